"""UIDs typed on the command line are checked where they enter (issue 9.7, command-line
side): an invalid one is a usage error (exit code 2) naming the argument and what is wrong,
before any catalog or server is touched; padding copied with a UID is stripped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dicomref._uids import argument_problem

GOOD = "1.2.826.0.1.3680043.8.498.1"

BAD = {
    "1.02.3": "leading zero ('02')",
    "1..3": "empty component",
    "1.2.": "empty component",
    "abc": "is not a UID",
    "1.2\n3": "is not a UID",
    "../../etc/passwd": "is not a UID",
    "1." + "2" * 70: "longer than the 64 characters",
    "9" * 200: "is not a UID",
}


def dicomref(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dicomref", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def test_the_rule() -> None:
    assert argument_problem(GOOD) is None
    assert argument_problem("0.0") is None
    assert argument_problem(GOOD + " ") is None  # padding as copied from a value
    assert argument_problem(GOOD + "\0") is None
    assert argument_problem("") is not None
    for value, why in BAD.items():
        problem = argument_problem(value)
        assert problem is not None and why in problem, value
        assert "\n" not in problem  # never breaks the line it is printed on


@pytest.mark.parametrize("value", list(BAD), ids=range(len(BAD)))
@pytest.mark.parametrize(
    ("command", "where"),
    [
        (("show",), "'uid'"),
        (("graph",), "'uid'"),
        (("locate", "ANY@127.0.0.1:9"), "'UID...'"),
        (("fetch", "ANY@127.0.0.1:9", "--out", "{tmp}/out"), "'UID|FILE...'"),
    ],
    ids=["show", "graph", "locate", "fetch"],
)
def test_an_invalid_uid_argument_is_a_usage_error_naming_it(
    command: tuple[str, ...], where: str, value: str, tmp_path: Path
) -> None:
    args = [a.format(tmp=tmp_path) for a in command]
    done = dicomref(*args, value, "--db", f"sqlite:///{tmp_path / 'c.sqlite'}", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"Invalid value for {where}" in done.stderr
    assert BAD[value] in " ".join(done.stderr.split())  # rich may wrap the message
    assert not (tmp_path / "c.sqlite").exists()  # refused before the catalog was opened
    assert not (tmp_path / "out").exists()


def test_an_invalid_study_option_is_a_usage_error(tmp_path: Path) -> None:
    done = dicomref(
        "fetch", "ANY@127.0.0.1:9", GOOD, "--study", "1.2.03", "--out", tmp_path / "out"
    )
    assert done.returncode == 2
    assert "Invalid value for '--study'" in done.stderr
    assert "leading zero" in done.stderr


def test_a_padded_uid_is_stripped_and_a_file_is_still_a_file(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.sqlite'}"
    done = dicomref("show", GOOD + " ", "--db", db)
    assert done.returncode != 2, done.stderr  # looked up (not in this empty catalog)
    assert repr(GOOD + " ") not in done.stderr
    named = tmp_path / "not a uid.dcm"
    named.write_bytes(b"not DICOM")
    done = dicomref("fetch", "ANY@127.0.0.1:9", named, "--out", tmp_path / "out", "--db", db)
    assert "Invalid value" not in done.stderr  # an existing file is a start, not a UID
