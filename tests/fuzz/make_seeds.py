"""Writes the seed corpora in ``corpus/`` (run it again only to change them; commit them).

    .venv/bin/python tests/fuzz/make_seeds.py

Every seed is generated here (dicomref's seeded generator, pydicom writing other transfer
syntaxes): no third-party files.  Seeds stay small (libFuzzer's default -max_len is 4 KiB
past the largest seed, and small inputs mutate faster).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pydicom
from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian

sys.path.insert(0, str(Path(__file__).parent))

import _targets

from dicomref.sample import generate_sample

HERE = Path(__file__).parent
MAX_SEED = 48 * 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sample = generate_sample(Path(tmp) / "reader", seed=3, slices=4, rows=16, columns=16)
        reader = _fresh(HERE / "corpus" / "reader")
        for obj in sample.objects:
            if obj.path.stat().st_size <= MAX_SEED:
                name = (
                    f"{obj.path.parent.parent.name}-{obj.path.parent.name}-{obj.path.stem}".lower()
                )
                shutil.copyfile(obj.path, reader / f"{name}.dcm")
        ct = pydicom.dcmread(sample.objects[0].path)
        for syntax, name in (
            (ImplicitVRLittleEndian, "implicit"),
            (DeflatedExplicitVRLittleEndian, "deflated"),
        ):
            ct.file_meta.TransferSyntaxUID = syntax
            ct.save_as(reader / f"ct-{name}.dcm", enforce_file_format=True)
        plan = next(o.path for o in sample.objects if o.modality == "RTPLAN")
        raw = plan.read_bytes()
        (reader / "rtplan-no-preamble.dcm").write_bytes(raw[128:])
        layout = _fresh(HERE / "corpus" / "layout")
        for index in range(_targets.LAYOUT_SERIES["slices"]):  # each slice as it is
            (layout / f"slice-{index}").write_bytes(bytes([index]))
        # a changed digit in a UID, a longer value, a cut in the pixel data
        (layout / "digit").write_bytes(bytes([1, 0, 0x60, 0x01, ord("7")]))
        (layout / "insert").write_bytes(bytes([2, 1, 0x40, 0x02, ord("1")]))
        (layout / "cut").write_bytes(bytes([3, 3, 0xF0, 0x07, 0]))
    for folder in (reader, layout):
        print(f"{folder}: {len(list(folder.iterdir()))} seeds")


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


if __name__ == "__main__":
    main()
