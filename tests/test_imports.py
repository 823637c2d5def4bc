"""Import hygiene: start-up time is a feature (docs/architecture.md, bench/startup.py).

Each check runs in a fresh interpreter and names the heavy modules a path must not
import; timing is left to the benchmark.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from dicomref.sample import generate_sample

SRC = Path(__file__).resolve().parent.parent / "src" / "dicomref"
HEAVY = ("pynetdicom", "sqlalchemy", "numpy", "pydicom", "rich", "pydantic", "dask", "distributed")


def modules_after(code: str) -> set[str]:
    """Every module (full dotted name) imported once ``code`` has run (numpy blocked)."""
    listing = "{m for m, v in sys.modules.items() if v is not None}"
    probe = f"import sys\nsys.modules['numpy'] = None\n{code}\nprint(' '.join(sorted({listing})))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.strip().splitlines()[-1].split())


def imported_after(code: str) -> set[str]:
    """The top-level packages of everything imported once ``code`` has run.

    numpy is made unimportable first: pydicom imports it whenever it is installed
    (``pydicom.config``, ~90 ms that dicomref cannot avoid, and the test tools install it),
    and falls back quietly when it is absent.  So a numpy import by dicomref itself fails
    the run instead of hiding behind pydicom's.
    """
    listing = "{m.split('.')[0] for m, v in sys.modules.items() if v is not None}"
    probe = f"import sys\nsys.modules['numpy'] = None\n{code}\nprint(' '.join(sorted({listing})))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.strip().splitlines()[-1].split())


def run_cli(*argv: str) -> str:
    """Code that runs ``dicomref ARGV`` in-process, its output swallowed, exit ignored
    (``_run``: the command without ``main``'s immediate exit)."""
    return (
        "import contextlib, io, sys\n"
        f"sys.argv = ['dicomref', *{list(argv)!r}]\n"
        "from dicomref.cli import _run\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    _run()"
    )


@pytest.mark.parametrize(
    ("code", "banned"),
    [
        ("import dicomref", HEAVY),
        ("import dicomref.cli", HEAVY),
        (run_cli("--help"), HEAVY),
        (run_cli("scan", "--help"), HEAVY),
        ("import dicomref.remote.planner._capabilities", ("pynetdicom", "sqlalchemy", "pydicom")),
        ("import dicomref.catalog, dicomref.check, dicomref.server", HEAVY),
        ("from dicomref.server import ServerConfig", ("pynetdicom", "sqlalchemy", "pydicom")),
        ("from dicomref.remote import Node, Capabilities", ("pynetdicom", "sqlalchemy")),
        ("import dicomref.catalog._catalog", ("pynetdicom", "dask", "distributed")),
        ("import dicomref.catalog._batches", ("dask", "distributed")),  # a cluster task
        ("from dicomref import references, read_object", ("pynetdicom", "sqlalchemy")),
        # Starlette only in the HTTP server's packages (server.dicomweb, server.page).
        ("import dicomref.graph_view, dicomref.labels", (*HEAVY, "starlette", "uvicorn")),
        ("import dicomref.server.dicomweb", (*HEAVY, "starlette", "uvicorn", "httpx")),
        (run_cli("serve", "--help"), ("starlette", "uvicorn", "httpx")),
    ],
)
def test_a_path_imports_nothing_heavy_it_does_not_use(code: str, banned: tuple[str, ...]) -> None:
    assert not set(banned) & imported_after(code)


@pytest.mark.parametrize(
    ("argv", "module"),
    [
        (("fetch", "--help"), "dicomref.cli._fetch_cmds"),
        (("refs", "--help"), "dicomref.cli._files_cmds"),
        (("scan", "--help"), "dicomref.cli._catalog_cmds"),
        (("serve", "--help"), "dicomref.cli._serve"),
    ],
)
def test_a_command_imports_its_own_module_and_no_other_commands(
    argv: tuple[str, ...], module: str
) -> None:
    from dicomref.cli import COMMANDS

    loaded = modules_after(run_cli(*argv))
    others = {f"dicomref.cli.{m}" for m in COMMANDS.values()} - {module}
    assert module in loaded
    assert not others & loaded, sorted(others & loaded)
    if argv[0] != "serve":
        assert "dicomref.server" not in loaded


def test_help_lists_every_command() -> None:
    from typer.testing import CliRunner

    from dicomref.cli import COMMANDS, app

    shown = CliRunner().invoke(app, ["--help"]).output
    for command in COMMANDS:
        assert f"  {command} " in shown, command


def test_refs_needs_no_catalog_server_or_pydantic(tmp_path: Path) -> None:
    plan = generate_sample(tmp_path, slices=2).plans[0].path
    for argv in (["refs", str(plan)], ["refs", "--json", str(plan)]):
        loaded = imported_after(run_cli(*argv))
        assert "dicomref" in loaded
        assert not {"pynetdicom", "sqlalchemy", "numpy", "pydantic"} & loaded, argv


def test_a_local_scan_imports_no_dask(tmp_path: Path) -> None:
    """Dask is for ``scan --cluster`` alone (dicomref[cluster])."""
    generate_sample(tmp_path / "patient", slices=2)
    db = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    loaded = imported_after(run_cli("scan", str(tmp_path / "patient"), "--db", db))
    assert "sqlalchemy" in loaded  # the scan ran
    assert not {"dask", "distributed"} & loaded


def test_serve_without_http_port_imports_no_http_server(tmp_path: Path) -> None:
    """Starlette and uvicorn are loaded by ``serve --http-port`` only."""
    code = (
        "from dicomref.server import Server, ServerConfig\n"
        f"server = Server(ServerConfig(port=0), 'sqlite:///{tmp_path / 'catalog.sqlite'}')\n"
        "server.start()\n"
        "server.stop()"
    )
    loaded = imported_after(code)
    assert "pynetdicom" in loaded  # the server ran
    assert not {"starlette", "uvicorn", "httpx", "anyio"} & loaded


def test_the_server_imports_nothing_from_the_client() -> None:
    """``server/`` (its subpackages too: DICOMweb, the web page) and the client share the wire
    layers ``dicomref._dimse`` and ``dicomref._dicomweb``, not ``remote``."""
    for path in sorted((SRC / "server").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                assert not name.startswith("dicomref.remote"), f"{path.name} imports {name}"


def test_the_wire_layer_imports_neither_client_nor_server() -> None:
    for path in sorted((SRC / "_dimse").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("dicomref.remote", "dicomref.server")), path


def test_fetch_imports_pydicom_without_numpy_or_requests(tmp_path: Path) -> None:
    """``dicomref fetch`` imports pydicom with numpy and requests left out (~130 ms where
    they are installed, as with the test tools); other code may still import them."""
    plan = generate_sample(tmp_path / "patient", slices=2).plans[0].path
    closed = "DICOMREF_NONE@127.0.0.1:9"  # discard port: nothing listens, the fetch fails
    argv = ["fetch", closed, str(plan), "--out", str(tmp_path / "out")]
    argv += ["--db", f"sqlite:///{tmp_path / 'catalog.sqlite'}"]
    listing = "sorted({m.split('.')[0] for m, v in sys.modules.items() if v is not None})"
    code = f"{run_cli(*argv)}\nprint(' '.join({listing}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.strip().splitlines()[-1].split())
    assert {"pydicom", "pynetdicom"} <= loaded  # the fetch went as far as connecting
    assert not {"numpy", "requests", "urllib3", "PIL"} & loaded


def test_a_dicomweb_fetch_locate_and_probe_import_no_pynetdicom(tmp_path: Path) -> None:
    """``probe``, ``locate`` and ``fetch`` of a DICOMweb URL (dicomref's own DICOMweb server
    on loopback: run inside the private network namespace) load httpx and never pynetdicom;
    the UID cross-check the fetch's intake shares with DIMSE lives outside the receiver."""
    from dicomweb_support import web_served

    sample = generate_sample(tmp_path / "patient", slices=2)
    db = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    with web_served([sample.root], f"sqlite:///{tmp_path / 'served.sqlite'}") as web:
        for argv in (
            ["probe", web.url, "--db", db],
            ["locate", web.url, sample.dose.sop_instance, "--db", db],
            [
                *("fetch", web.url, str(sample.plans[0].path), "--with-dependents"),
                *("--db", db, "--out", str(tmp_path / "out")),
            ],
        ):
            loaded = imported_after(run_cli(*argv))
            assert "httpx" in loaded, argv  # it talked to the server
            assert "pynetdicom" not in loaded, argv
    assert len(list((tmp_path / "out").rglob("*.dcm"))) >= 2  # the fetch brought objects


def test_pydicom_imported_lean_reads_files_and_numpy_still_imports(tmp_path: Path) -> None:
    plan = generate_sample(tmp_path, slices=2).plans[0].path
    code = (
        "import importlib.util, sys\n"
        "from dicomref._pydicom_import import import_pydicom_lean\n"
        "assert import_pydicom_lean() and not import_pydicom_lean()\n"
        "assert 'numpy' not in sys.modules and 'requests' not in sys.modules\n"
        "import pydicom\n"
        f"print(pydicom.dcmread({str(plan)!r}).Modality)\n"
        "if importlib.util.find_spec('numpy') is not None:\n"
        "    import numpy\n"
        "    print(numpy.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "RTPLAN"
