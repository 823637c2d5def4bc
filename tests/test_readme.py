"""The README's Python examples run as written, and print what the README says."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def run_block(block: str, folder: Path) -> None:
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        exec(compile(block, str(README), "exec"), {})
    finally:
        os.chdir(cwd)


def test_readme_has_both_examples() -> None:
    assert len(python_blocks()) == 2


def test_catalog_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_block(python_blocks()[0], tmp_path)
    printed = capsys.readouterr().out
    assert "structure_set" in printed
    indexed, users, *_ = printed.strip().splitlines()[-1].split()
    assert (indexed, users) == ("58", "2")


def test_fetch_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_block(python_blocks()[1], tmp_path)
    objects, *_, whole = capsys.readouterr().out.split()
    # plan 0, structure set 0, its 10 slices and the dose, of a study of 17 objects
    assert (int(objects), int(whole)) == (13, 17)
