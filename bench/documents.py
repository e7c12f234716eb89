"""Document extraction benchmark: pages/s of extract_document beside poppler's pdftotext.

Run from the project root with ``.venv/bin/python bench/documents.py``.

Measured in one run, on the same files (the generated corpus from ``tests/documents_corpus.py``,
reportlab, six layouts, 1-2 pages each):
- ``pipelines.documents.extract_document``: text (pypdf layout mode) + template and generic
  field extraction + checks, in this process;
- the baseline: ``pdftotext -layout FILE -`` (poppler, C++), one subprocess per file, as a
  worker would call it (pdftotext reads one file per call); its figure includes process
  start-up and gives text only, no fields.

Prints one JSON object to stdout and a table to stderr. No target from the issue: the ratio is
reported so a regression in the pure-Python path shows up beside a fixed native reference.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pypdf
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.documents import extract_document
from tests.documents_corpus import render_pdf, specs

err = Console(stderr=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        sys.exit("pdftotext (poppler-utils) is needed for the baseline")

    with err.status(f"generating {args.documents} documents"):
        docs = [render_pdf(s) for s in specs(42, args.documents)]
    workdir = Path(tempfile.mkdtemp(prefix="bench-documents-"))
    paths = []
    for i, pdf in enumerate(docs):
        path = workdir / f"doc{i:04d}.pdf"
        path.write_bytes(pdf)
        paths.append(path)

    def run_extract() -> int:
        return sum(extract_document(pdf).pages for pdf in docs)

    def run_pdftotext() -> int:
        for path in paths:
            subprocess.run([pdftotext, "-layout", str(path), "-"], check=True, capture_output=True)
        return pages

    pages = run_extract()
    figures: dict[str, Any] = {}
    for name, fn in (("extract_document", run_extract), ("pdftotext_subprocess", run_pdftotext)):
        with err.status(name):
            best = float("inf")
            for _ in range(args.repeat):
                t = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t)
        figures[name] = {
            "seconds": best,
            "pages_per_s": pages / best,
            "docs_per_s": len(docs) / best,
        }
    shutil.rmtree(workdir, ignore_errors=True)

    ratio = (
        figures["extract_document"]["pages_per_s"] / figures["pdftotext_subprocess"]["pages_per_s"]
    )
    out = {
        "documents": len(docs),
        "pages": pages,
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "pypdf": pypdf.__version__,
        },
        "figures": figures,
        "ratios": {"extract_vs_pdftotext": ratio},
    }
    table = Table(title=f"{len(docs)} documents, {pages} pages ({os.cpu_count()} CPUs)")
    for column in ("step", "seconds", "pages/s"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for name, v in figures.items():
        table.add_row(name, f"{v['seconds']:.3f}", f"{v['pages_per_s']:.1f}")
    err.print(table)
    err.print(f"extract_document / pdftotext: {ratio:.2f}x")
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
