"""``dicomref refs`` on DICOMweb metadata saved as JSON: the same answers as the files.

Each generated object's file is turned into DICOM JSON with pydicom (instance metadata:
a one-element array; series metadata: the whole series in one array) and read by the
command; its ``--json`` rows must equal those of the files, but for the ``file`` column.
"""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
from typer.testing import CliRunner

from dicomref.cli import app
from dicomref.sample import Sample

runner = CliRunner()


def _rows(*paths: Path, code: int = 0) -> list[dict[str, object]]:
    result = runner.invoke(app, ["refs", "--json", *map(str, paths)])
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    rows: list[dict[str, object]] = json.loads(result.stdout)
    for row in rows:
        row.pop("file")
    return rows


def _metadata(path: Path) -> dict[str, object]:
    dataset = pydicom.dcmread(path)
    return dataset.to_json_dict(bulk_data_threshold=1024, bulk_data_element_handler=lambda _: "")


def test_instance_and_series_metadata_read_as_their_files(sample: Sample, tmp_path: Path) -> None:
    files = sorted(sample.root.rglob("*.dcm"))
    assert len(files) > 5
    for index, path in enumerate(files):
        saved = tmp_path / f"instance-{index}.json"
        saved.write_text(json.dumps([_metadata(path)]))
        assert _rows(saved) == _rows(path), path
    series = sorted({path.parent for path in files})
    for index, folder in enumerate(series):
        members = sorted(folder.glob("*.dcm"))
        saved = tmp_path / f"series-{index}.json"
        saved.write_text(json.dumps([_metadata(p) for p in members]))
        assert _rows(saved) == _rows(*members), folder


def test_a_bad_instance_in_series_metadata_is_named_and_the_others_are_read(
    sample: Sample, tmp_path: Path
) -> None:
    plan = sorted(sample.root.rglob("RTPLAN*/*.dcm"))[0]
    good = _metadata(plan)
    bad = {"00080018": {"vr": "UI", "Value": ["not a UID"]}}
    saved = tmp_path / "series.json"
    saved.write_text(json.dumps([bad, good]))
    result = runner.invoke(app, ["refs", "--json", str(saved)])
    assert result.exit_code == 3
    assert "series.json" in result.stderr
    rows = json.loads(result.stdout)
    assert rows and all(row["source"] == good["00080018"]["Value"][0] for row in rows)  # type: ignore[index]
