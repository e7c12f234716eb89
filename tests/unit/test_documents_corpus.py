"""Field-level precision and recall of extract_document over the generated corpus.

Two producers: reportlab (six layouts) and LibreOffice converting HTML (three layouts). The
LibreOffice half is converted once per module, in one ``soffice`` call, and skipped only when
LibreOffice is not installed (it is optional: ``apt-get install libreoffice-writer-nogui``).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from pipelines.documents import extract_document
from tests.documents_corpus import (
    HTML_LAYOUTS,
    Spec,
    convert_html,
    render_html,
    render_pdf,
    soffice,
    specs,
)

SEED = 7
N_REPORTLAB, N_LIBREOFFICE = 120, 30
TARGET = 0.95
CONFIDENT = 0.9


def _same(expected: str | float, got: str | float) -> bool:
    if isinstance(expected, float):
        return isinstance(got, float) and abs(got - expected) < 1e-6
    return " ".join(str(got).split()).casefold() == " ".join(expected.split()).casefold()


def score(docs: list[tuple[Spec, bytes]]) -> tuple[int, int, int, list[str]]:
    """(correct, extracted, expected, confidently wrong) over every field of every document."""
    correct = extracted = expected = 0
    confidently_wrong = []
    for spec, pdf in docs:
        result = extract_document(pdf)
        got = {name: (f.value, f.confidence) for name, f in result.fields.items()}
        got["document_type"] = (result.document_type, 1.0)
        if result.document_type == "unknown":
            del got["document_type"]
        expected += len(spec.expected)
        extracted += len(got)
        for name, (value, confidence) in got.items():
            want = spec.expected.get(name)
            if want is not None and _same(want, value):
                correct += 1
            elif confidence >= CONFIDENT:
                confidently_wrong.append(
                    f"{spec.name} {name}: {value!r} ({confidence}) != {want!r}"
                )
    return correct, extracted, expected, confidently_wrong


def _report(label: str, docs: list[tuple[Spec, bytes]]) -> None:
    correct, extracted, expected, wrong = score(docs)
    precision, recall = correct / extracted, correct / expected
    print(
        f"\n{label}: {len(docs)} documents, {expected} fields: "
        f"precision {precision:.4f}, recall {recall:.4f}, confidently wrong {len(wrong)}"
    )
    assert not wrong, wrong
    assert precision >= TARGET
    assert recall >= TARGET


@pytest.fixture(scope="module")
def reportlab_docs() -> list[tuple[Spec, bytes]]:
    return [(s, render_pdf(s)) for s in specs(SEED, N_REPORTLAB)]


@pytest.fixture(scope="module")
def libreoffice_docs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Spec, bytes]]:
    if soffice() is None:
        pytest.skip("LibreOffice (soffice) not installed: the second producer is optional")
    html_specs = specs(SEED + 1, N_LIBREOFFICE, HTML_LAYOUTS)
    workdir: Path = tmp_path_factory.mktemp("libreoffice")
    pdfs = convert_html({s.name: render_html(s) for s in html_specs}, workdir)
    return [(s, pdfs[s.name]) for s in html_specs]


def test_reportlab_corpus_precision_recall(reportlab_docs: list[tuple[Spec, bytes]]) -> None:
    _report("reportlab", reportlab_docs)


def test_libreoffice_corpus_precision_recall(libreoffice_docs: list[tuple[Spec, bytes]]) -> None:
    producers = {
        str((PdfReader(io.BytesIO(pdf)).metadata or {}).get("/Producer"))
        for _, pdf in libreoffice_docs
    }
    assert all("LibreOffice" in p for p in producers), producers
    _report("libreoffice", libreoffice_docs)


def test_every_layout_and_document_type_is_covered(
    reportlab_docs: list[tuple[Spec, bytes]],
) -> None:
    layouts = {s.layout for s, _ in reportlab_docs}
    types = {s.document_type for s, _ in reportlab_docs}
    styles = {s.issuer.style for s, _ in reportlab_docs}
    assert layouts >= {"label_left", "label_above", "table", "label_right", "multipage", "rotated"}
    assert types == {"invoice", "bill_of_lading", "product_transfer_document"}
    assert styles == {"us", "eu"}


def test_corpus_is_deterministic() -> None:
    a, b = specs(11, 5), specs(11, 5)
    assert [s.expected for s in a] == [s.expected for s in b]
    assert render_pdf(a[0]) == render_pdf(b[0])
