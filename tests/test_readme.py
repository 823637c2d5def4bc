"""The README's Python example runs as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_a_python_example() -> None:
    assert python_blocks()


@pytest.mark.parametrize("block", python_blocks())
def test_python_example_runs(
    block: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        exec(compile(block, str(README), "exec"), {})
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out
    assert "structure_set" in printed
    indexed, users, *_ = printed.strip().splitlines()[-1].split()
    assert (indexed, users) == ("58", "2")
