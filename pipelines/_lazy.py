"""Package facades that import their submodules on first use.

``pipelines.lcfs`` and ``pipelines.documents`` offer one flat namespace (``lcfs.compute_quarter``,
``docs.extract_document``), but some of their submodules load pandas, reportlab or pypdf, which
take about a second to import. A process that only needs a constant or a small helper (the CLI
printing its help, the settings, the API's schemas) should not pay for them, so those names are
resolved through the package's module ``__getattr__`` (PEP 562) when first read, then cached.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    namespace: dict[str, Any], exports: Mapping[str, tuple[str, ...]]
) -> Callable[[str], Any]:
    """The module ``__getattr__`` for the package whose ``globals()`` is ``namespace``:
    ``exports`` maps a submodule's name to the names the package re-exports from it."""
    package = namespace["__name__"]
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value  # found directly from now on
        return value

    return __getattr__
