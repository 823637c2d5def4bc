"""Fuzzing in the test suite (the harnesses and their targets live in ``tests/fuzz/``).

- Every committed crash and seed is replayed through its target: each crash fuzzing ever
  found stays a regression test.
- Each harness fuzzes for a bounded time (``DICOMREF_FUZZ_SECONDS``, default 20 s under CI,
  5 s elsewhere), starting from the committed seeds; a failure prints the input (base64) to
  add under ``tests/fuzz/crashes/<target>/``.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).parent / "fuzz"
sys.path.insert(0, str(FUZZ))

import _targets  # noqa: E402


def _inputs(kind: str) -> list[tuple[str, Path]]:
    return [
        (target, path)
        for target in sorted(_targets.TARGETS)
        for path in sorted((FUZZ / kind / target).glob("*"))
    ]


@pytest.mark.parametrize(("target", "path"), _inputs("crashes"), ids=lambda v: str(v)[-16:])
def test_every_crash_found_stays_fixed(target: str, path: Path) -> None:
    _targets.TARGETS[target](path.read_bytes())


@pytest.mark.parametrize(("target", "path"), _inputs("corpus"), ids=lambda v: str(v)[-24:])
def test_every_seed_passes(target: str, path: Path) -> None:
    _targets.TARGETS[target](path.read_bytes())


def test_there_are_seeds_for_every_target() -> None:
    for target in _targets.TARGETS:
        assert list((FUZZ / "corpus" / target).glob("*")), f"no seeds for {target}"


def _seconds() -> int:
    default = "20" if os.environ.get("CI") == "true" else "5"
    return int(os.environ.get("DICOMREF_FUZZ_SECONDS", default))


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(_targets.TARGETS))
def test_fuzz_for_a_bounded_time(target: str, tmp_path: Path) -> None:
    try:
        import atheris  # noqa: F401
    except ImportError:
        reason = "atheris is not installed (it is in the dev extra: make test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true: fuzzing must run", pytrace=False)
        pytest.skip(reason)
    found, artifacts = tmp_path / "found", tmp_path / "artifacts"
    found.mkdir()
    artifacts.mkdir()
    seconds = _seconds()
    run = subprocess.run(
        [
            sys.executable,
            str(FUZZ / "harness.py"),
            target,
            str(found),
            str(FUZZ / "corpus" / target),
            f"-max_total_time={seconds}",
            f"-artifact_prefix={artifacts}/",
            "-rss_limit_mb=2048",
            "-timeout=10",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    crashes = sorted(artifacts.iterdir())
    if run.returncode != 0 or crashes:
        shown = "\n".join(
            f"{c.name}: {base64.b64encode(c.read_bytes()[:65536]).decode()}" for c in crashes
        )
        pytest.fail(
            f"fuzzing {target} failed (exit {run.returncode}); save each input below under "
            f"tests/fuzz/crashes/{target}/ (base64 -d) and fix it:\n{shown}\n"
            f"{run.stderr[-4000:]}"
        )
    assert "Done" in run.stderr, run.stderr[-2000:]
