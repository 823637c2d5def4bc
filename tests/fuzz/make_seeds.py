"""Writes the seed corpora in ``corpus/`` (run it again only to change them; commit them).

    .venv/bin/python tests/fuzz/make_seeds.py

Every seed is generated here (dicomref's seeded generator, pydicom writing other transfer
syntaxes): no third-party files.  Seeds stay small (libFuzzer's default -max_len is 4 KiB
past the largest seed, and small inputs mutate faster).
"""

from __future__ import annotations

import base64
import json
import shutil
import struct
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
MAX_JSON_SEED = 16 * 1024


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
    json_seeds = write_json_seeds()
    for folder in (reader, layout, json_seeds):
        print(f"{folder}: {len(list(folder.iterdir()))} seeds")


def write_json_seeds() -> Path:
    """``corpus/json``: small DICOM JSON documents, as pydicom writes them (binaries over 64
    bytes as BulkDataURIs, as servers give pixel data), a series array, and the forms PS3.18
    allows that pydicom does not write (lower-case tags, numbers as strings, private
    sequences, a UN sequence inline)."""
    folder = _fresh(HERE / "corpus" / "json")
    with tempfile.TemporaryDirectory() as tmp:
        sample = generate_sample(Path(tmp) / "json", seed=4, slices=2, rows=16, columns=16)
        documents = {}
        for obj in sample.objects:
            name = f"{obj.path.parent.parent.name}-{obj.path.parent.name}-{obj.path.stem}".lower()
            documents[name] = pydicom.dcmread(obj.path).to_json_dict(
                bulk_data_threshold=64, bulk_data_element_handler=lambda e: f"http://x/{e.tag:08x}"
            )
    for name, document in documents.items():
        text = json.dumps(document, separators=(",", ":")).encode()
        if len(text) <= MAX_JSON_SEED and not name.endswith(("ct_1-0002", "ct_1-0003")):
            (folder / f"{name}.json").write_bytes(text)
    ct = [documents[n] for n in sorted(documents) if n.startswith("study1-ct_1")]
    (folder / "series-ct.json").write_bytes(json.dumps(ct, separators=(",", ":")).encode())
    forms = {
        "0020000d": {"vr": "UI", "Value": ["1.2.3.1"]},
        "0020000e": {"vr": "UI", "Value": ["1.2.3.2"]},
        "00080018": {"vr": "UI", "Value": ["1.2.3.3"]},
        "00080016": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.481.3"]},
        "00080005": {"vr": "CS", "Value": [None, "ISO 2022 IR 87"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Yamada^Tarou", "Ideographic": "山田"}]},
        "00200013": {"vr": "IS", "Value": ["7"]},
        "00200032": {"vr": "DS", "Value": ["-1.5", 2, 3.25]},
        "00081140": {
            "vr": "SQ",
            "Value": [
                {
                    "00081150": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.66.4"]},
                    "00081155": {"vr": "UI", "Value": ["1.2.9.1"]},
                    "00081160": {"vr": "IS", "Value": [1, "2"]},
                    "0062000b": {"vr": "US", "Value": ["3"]},
                },
                {},
            ],
        },
        "00091010": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2.9.2"]}}]},
        "00091011": {"vr": "UN", "InlineBinary": _un_sequence("1.2.9.3")},
        "7fe00010": {"vr": "OW", "BulkDataURI": "http://x/pixels"},
    }
    (folder / "ps3-18-forms.json").write_bytes(json.dumps([forms], ensure_ascii=False).encode())
    return folder


def _un_sequence(target: str) -> str:
    """Base64 of one implicit VR item naming ``target``: a private sequence stored as UN."""
    value = target.encode().ljust(len(target) + len(target) % 2, b"\0")
    element = struct.pack("<HHI", 0x0008, 0x1155, len(value)) + value
    item = struct.pack("<HHI", 0xFFFE, 0xE000, len(element)) + element
    return base64.b64encode(item).decode()


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


if __name__ == "__main__":
    main()
