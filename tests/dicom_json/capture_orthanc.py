"""Writes ``orthanc/*.json``: DICOMweb metadata exactly as Orthanc's DICOMweb plugin answers it.

    scripts/in-netns.sh .venv/bin/python tests/dicom_json/capture_orthanc.py

Starts Orthanc with its DICOMweb plugin (Debian's orthanc and orthanc-dicomweb; see
tests/servers), stores the generated patient :data:`SAMPLE` in it, and saves the answers of
WADO-RS instance metadata for a few objects and series metadata for the planning CT.
``tests/test_json_metadata.py`` generates the same patient (the generator is deterministic)
and reads each answer against its file.  Run it again only to refresh the captures.
"""

from __future__ import annotations

import json
import sys
import tempfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

import pydicom  # noqa: E402

from dicomref.sample import generate_sample  # noqa: E402
from servers import OrthancServer, running  # noqa: E402

#: The generated patient the captures are of (generate_sample's arguments).
SAMPLE = {"seed": 5, "slices": 3, "rows": 16, "columns": 16}
#: Objects whose instance metadata is captured (paths under the sample's root).
INSTANCES = ("study1/CT_1/0001.dcm", "study1/RTSTRUCT_2/0001.dcm", "study1/RTDOSE_5/0001.dcm")
#: The series whose series metadata is captured.
SERIES = "study1/CT_1"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sample = generate_sample(Path(tmp) / "patient", **SAMPLE)
        with running(OrthancServer(Path(tmp) / "orthanc", dicomweb=True)) as pacs:
            pacs.upload([o.path for o in sample.objects])
            version = pacs.rest("/system")["Version"]
            plugin = pacs.rest("/plugins/dicom-web")["Version"]
            out = HERE / "orthanc"
            out.mkdir(exist_ok=True)
            for name in INSTANCES:
                ds = pydicom.dcmread(sample.root / name, stop_before_pixels=True)
                url = (
                    f"{pacs.dicomweb_url}/studies/{ds.StudyInstanceUID}/series/"
                    f"{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}/metadata"
                )
                _save(url, out / (name.replace("/", "-").removesuffix(".dcm").lower() + ".json"))
            ds = pydicom.dcmread(next((sample.root / SERIES).iterdir()), stop_before_pixels=True)
            url = (
                f"{pacs.dicomweb_url}/studies/{ds.StudyInstanceUID}/series/"
                f"{ds.SeriesInstanceUID}/metadata"
            )
            _save(url, out / (SERIES.replace("/", "-").lower() + "-series.json"))
            (out / "SOURCE").write_text(
                f"Orthanc {version}, DICOMweb plugin {plugin} (Debian 12), "
                f"sample {json.dumps(SAMPLE)}\n"
            )
    print(f"captured into {out}")


def _save(url: str, path: Path) -> None:
    with urllib.request.urlopen(url, timeout=30) as response:
        path.write_bytes(response.read())


if __name__ == "__main__":
    main()
