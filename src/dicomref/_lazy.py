"""Lazy package faces (PEP 562): a name is imported from its module on first use.

A package that re-exports much writes its imports twice, once for type checkers and once
as a table for the runtime::

    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from dicomref.catalog._catalog import Catalog
        from dicomref.graph import Edge as GraphEdge

    _LAZY = {"Catalog": "._catalog", "GraphEdge": "dicomref.graph:Edge"}
    if not TYPE_CHECKING:
        __getattr__, __dir__ = face(__name__, _LAZY)

    __all__ = ["Catalog", "GraphEdge"]

so ``import dicomref.catalog`` costs nothing until ``Catalog`` is asked for, while mypy
and IDEs read the ``TYPE_CHECKING`` block (and see no ``__getattr__``: a misspelt name
stays an error for them).  tests/test_public_api.py checks that each face's ``_LAZY``
table says what its ``TYPE_CHECKING`` block says, and that every name resolves.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def face(
    package: str, names: Mapping[str, str], submodules: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``.

    ``names`` maps each lazy name to where it lives: ``"module"`` (the same name there) or
    ``"module:attr"``; a module starting with ``.`` is relative to ``package``.
    ``submodules`` are imported when asked for as attributes (``dicomref.remote`` after
    ``import dicomref``).  A resolved name is stored in the package, so ``__getattr__``
    runs once per name.  ``__dir__`` lists the package's ``__all__``, the lazy names, the
    submodules and its dunders (not the helpers its own code imported).
    """
    lazy = table(package, names)
    children = frozenset(submodules)

    def get_attribute(name: str) -> Any:
        if name in lazy:
            module, attr = lazy[name]
            value = getattr(importlib.import_module(module), attr)
        elif name in children:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    def list_names() -> list[str]:
        held = vars(sys.modules[package])
        dunders = {n for n in held if n.startswith("__")}
        return sorted(set(held.get("__all__", ())) | set(lazy) | children | dunders)

    return get_attribute, list_names


def table(package: str, names: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """``names`` as (absolute module, attribute) pairs: what :func:`face` imports."""
    return {name: _split(package, where, name) for name, where in names.items()}


def _split(package: str, where: str, name: str) -> tuple[str, str]:
    module, _, attr = where.partition(":")
    if module.startswith("."):
        module = package + module
    return module, attr or name
