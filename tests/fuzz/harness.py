"""Coverage-guided fuzzing of dicomref's parsers with atheris (libFuzzer for Python).

    .venv/bin/python tests/fuzz/harness.py reader NEW_CORPUS tests/fuzz/corpus/reader \
        -max_total_time=60

The first argument names the target (see ``_targets.TARGETS``); the rest go to libFuzzer
(corpus folders: new inputs are written to the first; ``-max_total_time``, ``-runs`` …).
A failing input is written as ``crash-<sha1>`` (``-artifact_prefix=DIR/`` says where): copy
it into ``crashes/<target>/`` and ``tests/test_fuzz.py`` replays it for ever after.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).parent))

with atheris.instrument_imports(include=["dicomref"]):
    import _targets


def main() -> None:
    name = sys.argv.pop(1) if len(sys.argv) > 1 else ""
    if name not in _targets.TARGETS:
        raise SystemExit(f"usage: harness.py {{{','.join(_targets.TARGETS)}}} [libFuzzer args]")
    check = _targets.TARGETS[name]
    mutate = _targets.MUTATORS.get(name)
    if mutate is None:
        atheris.Setup(sys.argv, check)
    else:  # a structure-aware target: its mutator, with libFuzzer's own as a fallback

        def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
            return mutate(data, max_size, seed, atheris.Mutate)

        atheris.Setup(sys.argv, check, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
