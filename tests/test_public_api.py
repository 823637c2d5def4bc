"""The library's public face: exactly what ``__all__`` names, each importable, each lazy."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from types import ModuleType

import pytest

import dicomref
from dicomref import _lazy

SUBPACKAGES = {"catalog", "check", "cli", "errors", "extraction", "graph", "model"}
SUBPACKAGES |= {"remote", "sample", "server", "show", "store"}

LAZY_FACES = ["dicomref", "dicomref.catalog", "dicomref.check", "dicomref.remote"]
LAZY_FACES += ["dicomref.sample", "dicomref.server"]


def run(code: str) -> str:
    """``code``'s output in a fresh interpreter: other tests import more into this one."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout


def test_all_is_sorted_and_exact() -> None:
    assert dicomref.__all__ == sorted(dicomref.__all__)
    public = set(run("import dicomref; print(' '.join(dir(dicomref)))").split())
    public = {n for n in public if not n.startswith("_")} - SUBPACKAGES
    assert public == set(dicomref.__all__) - {"__version__"}


@pytest.mark.parametrize("name", LAZY_FACES)
def test_every_name_of_a_face_resolves(name: str) -> None:
    module = importlib.import_module(name)
    for attr in module.__all__:
        assert getattr(module, attr) is not None, f"{name}.{attr}"
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = module.Nothing


def type_checking_imports(module: ModuleType) -> dict[str, tuple[str, str]]:
    """What the face's ``if TYPE_CHECKING:`` block imports: name → (module, attribute)."""
    tree = ast.parse(inspect.getsource(module))
    blocks = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name)
        if node.test.id == "TYPE_CHECKING"
    ]
    found: dict[str, tuple[str, str]] = {}
    for node in ast.walk(blocks[0]):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                found[alias.asname or alias.name] = (node.module, alias.name)
    return found


@pytest.mark.parametrize("name", LAZY_FACES)
def test_a_face_imports_at_runtime_what_type_checkers_see(name: str) -> None:
    module = importlib.import_module(name)
    runtime = _lazy.table(name, module._LAZY)
    assert runtime == type_checking_imports(module)
    eager = {n for n in module.__all__ if n in vars(module) and n not in runtime}
    assert set(runtime) | eager == set(module.__all__), name


def test_importing_the_library_imports_no_subpackage() -> None:
    code = "import dicomref, sys; print(' '.join(m for m in sys.modules if 'dicomref' in m))"
    assert set(run(code).split()) == {"dicomref", "dicomref._lazy"}


def test_every_error_derives_from_the_root() -> None:
    errors = [getattr(dicomref, n) for n in dicomref.__all__ if n.endswith("Error")]
    assert len(errors) >= 10
    assert all(issubclass(e, dicomref.DicomrefError) for e in errors)


def test_importing_the_library_configures_no_logging() -> None:
    code = (
        "import logging, dicomref;"
        "print([type(h).__name__ for h in logging.getLogger('dicomref').handlers],"
        " logging.getLogger().handlers)"
    )
    assert run(code).strip() == "['NullHandler'] []"
