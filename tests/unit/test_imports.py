"""What a process loads when it starts. The CLI, the settings and the worker start without the
libraries only some commands need (pandas, reportlab, pypdf, pyhanko), which take up to a second
each to import; the lazy package facades (``pipelines/_lazy.py``) export what they declare."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "reportlab", "pypdf", "pyhanko")


def _loaded_after(code: str) -> list[str]:
    """Which of HEAVY a fresh interpreter has imported after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    ("code", "allowed"),
    [
        ("import worker.settings", ()),
        ("import pipelines.lcfs, pipelines.documents", ()),
        # typer builds every command's help from the app: what `tickwork --help` loads.
        (
            "from typer.main import get_command\nfrom worker.cli.main import app\nget_command(app)",
            (),
        ),
        # The worker's parent process with every task module (pandas: ingest parses with it).
        ("from worker.celery_app import app\napp.loader.import_default_modules()", ("pandas",)),
    ],
    ids=["settings", "pipelines-facades", "cli", "worker"],
)
def test_entry_points_start_without_the_heavy_libraries(
    code: str, allowed: tuple[str, ...]
) -> None:
    assert set(_loaded_after(code)) <= set(allowed)


def test_the_checks_see_a_heavy_import() -> None:
    assert _loaded_after("import pipelines.lcfs\npipelines.lcfs.render_lcfs_pdf") == [
        "pandas",
        "reportlab",
    ]


def _type_checking_names(path: Path) -> set[str]:
    """The names a module imports under ``if TYPE_CHECKING:``."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for inner in node.body:
                if isinstance(inner, ast.ImportFrom):
                    names.update(alias.asname or alias.name for alias in inner.names)
    return names


@pytest.mark.parametrize("package", ["pipelines.lcfs", "pipelines.documents"])
def test_lazy_facades_export_what_they_declare(package: str) -> None:
    module = importlib.import_module(package)
    lazy = {name for names in module._LAZY.values() for name in names}
    assert lazy == _type_checking_names(Path(module.__file__ or ""))  # one list, kept in step
    assert lazy <= set(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        module.nothing_here  # noqa: B018
