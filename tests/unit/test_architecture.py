"""The layout's rules, checked on the source (docs/architecture.md): no import cycle, imports
inside functions included; the API imports no task module; ``pipelines/`` imports no framework;
no file cites a path outside the repository; tasks and routes stay thin."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "worker", "pipelines", "schedules")
FRAMEWORKS = {
    "alembic",
    "aiohttp",
    "celery",
    "fastapi",
    "httpx",
    "kombu",
    "psycopg",
    "pydantic",
    "pydantic_settings",
    "redis",
    "rich",
    "sqlalchemy",
    "starlette",
    "typer",
    "uvicorn",
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue  # Alembic's scripts, loaded by path
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, at any depth of the file (inside functions too). ``from
    package import submodule`` counts as importing the submodule."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            submodules = {f"{base}.{a.name}" for a in node.names} & MODULES.keys()
            out.update(submodules or {base})
            if len(submodules) < len(node.names):
                out.add(base)
    return out


def _within(target: str) -> str | None:
    """The project module ``target`` names (a name inside a module resolves to the module)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in MODULES.items():
        for target in _imports(name, path):
            inner = _within(target)
            if inner and inner != name:
                graph[name].add(inner)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(set(MODULES) | set(graph)):
        if v not in index:
            visit(v)
    return found


def test_the_checker_sees_imports_inside_functions_and_cycles() -> None:
    source = "def f():\n    from worker.kinds import QUEUES\n"
    tree_path = ROOT / "worker" / "dispatch.py"
    assert "worker.kinds" in {_within(t) for t in _imports("worker.dispatch", tree_path)}
    assert "worker.kinds" in {
        _within(n.module or "")
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.ImportFrom)
    }
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    assert len(MODULES) > 100  # the whole tree was read
    assert _cycles(_graph()) == []


def test_the_api_imports_no_task_module() -> None:
    graph = _graph()
    offenders = sorted(
        (name, target)
        for name, targets in graph.items()
        if name.startswith("api")
        for target in targets
        if target.startswith("worker.tasks")
    )
    assert offenders == []


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("pipelines")))
def test_pipelines_import_no_framework_and_nothing_above_them(name: str) -> None:
    imported = {t.split(".")[0] for t in _imports(name, MODULES[name])}
    assert not imported & (FRAMEWORKS | {"api", "worker", "schedules"}), imported


# Notes that live outside the repository (design notes, seed documents, research notes) and
# citations of their sections; spelled in pieces so this file does not match itself.
OUTSIDE = re.compile(
    "|".join(
        (
            r"DESIGN\.md",
            r"STYLE\.md",
            r"\bseeds/\d",
            "shared" + "/ref",
            r"\.\./shared",
            r"\bref(?:erence)? §\s*\d",
        )
    )
)


def test_no_file_cites_a_path_outside_the_repository() -> None:
    checked = [
        p
        for p in ROOT.rglob("*")
        if p.suffix in {".py", ".md", ".toml", ".csv", ".html", ".js", ".css"}
        and not {".venv", ".git", "node_modules", "__pycache__"} & set(p.parts)
        and p != Path(__file__).resolve()
    ]
    assert len(checked) > 150
    cites = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in checked
        for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert cites == []


def _body_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the last."""
    body = function.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1 if body else 0


def _decorated(folders: tuple[str, ...], decorator: str) -> dict[str, int]:
    """``module:function`` -> body lines of every function under ``folders`` whose decorator's
    name starts with ``decorator`` (``app.task``, ``router.``)."""
    return {
        f"{path.relative_to(ROOT)}:{node.name}": _body_lines(node)
        for folder in folders
        for path in sorted((ROOT / folder).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(ast.unparse(d).startswith(decorator) for d in node.decorator_list)
    }


def test_task_bodies_and_routes_stay_thin() -> None:
    """A task loads, computes, stores and notifies in at most 30 lines; a route parses,
    authorises, makes one call and answers in at most 40 (docs/architecture.md)."""
    tasks = _decorated(("worker/tasks",), "app.task")
    routes = _decorated(("api/routes", "api/dashboard"), "router.")
    assert len(tasks) >= 12 and len(routes) >= 80  # the checker finds them
    assert {name: n for name, n in tasks.items() if n > 30} == {}
    assert {name: n for name, n in routes.items() if n > 40} == {}


def _routes(routes: Iterable[Any]) -> Iterator[Any]:
    from fastapi.routing import APIRoute

    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router
            yield from _routes(route.original_router.routes)


def _dependencies(dependant: Any) -> Iterator[Any]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependencies(sub)


def test_every_writing_route_commits_before_it_answers() -> None:
    """A route's writing session ends (commits) before the answer is sent, not after it: else a
    client could read back too early what its 201 announced, or be told of a success whose commit
    then failed. FastAPI's default scope for a dependency with ``yield`` ends it after."""
    from api.app import create_app
    from api.deps import get_session

    sessions = [
        (route.path, dep.scope)
        for route in _routes(create_app().routes)
        for dep in _dependencies(route.dependant)
        if dep.call is get_session
    ]
    assert len(sessions) > 30  # the checker sees the routes that write
    assert [path for path, scope in sessions if scope != "function"] == []
