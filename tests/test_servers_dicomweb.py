"""Orthanc with its DICOMweb plugin as a test server: it answers QIDO-RS by SOP Instance UID
alone, and a missing plugin is a skip (a failure when CI is "true")."""

from __future__ import annotations

from pathlib import Path

import httpx
import pydicom
import pytest

import servers._orthanc
from servers import OrthancServer, clone_ct, running, sop_instance_uid

SOP_INSTANCE_UID = "00080018"
SERIES_INSTANCE_UID = "0020000E"


def test_qido_finds_an_instance_by_its_sop_uid_alone(
    orthanc_dicomweb: OrthancServer, tmp_path: Path
) -> None:
    paths = clone_ct(tmp_path / "ct", 3)
    orthanc_dicomweb.upload(paths)
    wanted = sop_instance_uid(paths[1])
    answer = httpx.get(
        f"{orthanc_dicomweb.dicomweb_url}/instances",
        params={"SOPInstanceUID": wanted},
        headers={"Accept": "application/dicom+json"},
    )
    assert answer.status_code == 200, answer.text
    rows = answer.json()
    assert [row[SOP_INSTANCE_UID]["Value"] for row in rows] == [[wanted]]
    series = pydicom.dcmread(paths[1], stop_before_pixels=True).SeriesInstanceUID
    assert rows[0][SERIES_INSTANCE_UID]["Value"] == [series]


def test_dicomweb_url_names_the_plugin_root(tmp_path: Path) -> None:
    server = OrthancServer(tmp_path, dicomweb=True)
    assert server.dicomweb_url == f"{server.base_url}/dicom-web"
    config = server.configuration()
    assert config["DicomWeb"]["Enable"] is True
    assert [Path(plugin).name for plugin in config["Plugins"]] == [
        servers._orthanc.dicomweb_plugin().name  # type: ignore[union-attr]
    ]
    with pytest.raises(RuntimeError, match="dicomweb=True"):
        _ = OrthancServer(tmp_path).dicomweb_url


def test_remote_dicomweb_servers_go_into_the_plugin_configuration(tmp_path: Path) -> None:
    server = OrthancServer(
        tmp_path, dicomweb=True, dicomweb_servers={"dicomref": "http://127.0.0.1:1/dicom-web"}
    )
    assert server.configuration()["DicomWeb"]["Servers"] == {
        "dicomref": ["http://127.0.0.1:1/dicom-web"]
    }


@pytest.mark.parametrize("ci", ["true", ""])
def test_a_missing_plugin_skips_or_fails_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(
        servers._orthanc, "DICOMWEB_PLUGIN_PATHS", (tmp_path / "libOrthancDicomWeb.so",)
    )
    outcome = pytest.fail.Exception if ci == "true" else pytest.skip.Exception
    with pytest.raises(outcome, match=r"install the Debian package 'orthanc-dicomweb'"):  # noqa: SIM117
        with running(OrthancServer(tmp_path, dicomweb=True)):
            pass
