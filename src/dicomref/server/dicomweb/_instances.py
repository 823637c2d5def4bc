"""The instances a WADO-RS request names (a study, a series, one instance), read from the
catalog with the DIMSE side's selection (:func:`dicomref.server._select.rows` at the
instance level: one file per SOP Instance UID, in series and instance-number order)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydicom.filereader import read_file_meta_info

from dicomref._dimse._levels import Level, Root
from dicomref.catalog import Catalog
from dicomref.extraction._adapter import PYDICOM_READ_ERRORS
from dicomref.server import _select
from dicomref.server._identifier import Request, Term
from dicomref.server._keys import KEYS
from dicomref.server.dicomweb._problems import DicomWebError, not_found

_STUDY, _SERIES, _SOP = 0x0020000D, 0x0020000E, 0x00080018


@dataclass(frozen=True, slots=True)
class Instance:
    """One object to send: its UIDs, its file and the transfer syntax it is stored in."""

    study: str
    series: str
    sop: str
    sop_class: str
    path: Path
    syntax: str


def _request(study: str, series: str | None, sop: str | None) -> Request:
    terms = [Term(KEYS[_STUDY], (study,))]
    if series is not None:
        terms.append(Term(KEYS[_SERIES], (series,)))
    if sop is not None:
        terms.append(Term(KEYS[_SOP], (sop,)))
    return Request("C-GET", Root.STUDY, Level.IMAGE, tuple(terms), ())


def _what(study: str, series: str | None, sop: str | None) -> str:
    if sop is not None:
        return f"SOP Instance {sop} (series {series}, study {study})"
    if series is not None:
        return f"series {series} (study {study})"
    return f"study {study}"


def named(
    catalog: Catalog, study: str, series: str | None = None, sop: str | None = None
) -> list[Instance]:
    """The instances of the study/series/instance; DicomWebError 404 when there are none,
    or when a file the catalog names is gone (checked before anything is sent: a file
    that vanishes later cuts the answer, :class:`._wado.AnswerCutError`).  Raises
    CatalogError."""
    with catalog.reading() as conn:
        rows = _select.rows(conn, _request(study, series, sop))
    if not rows:
        raise not_found(f"{_what(study, series, sop)} is not in the catalog")
    found = []
    for row in rows:
        path = Path(str(row["_path"]))
        if not path.is_file():
            raise gone(str(row["SOPInstanceUID"]), path, FileNotFoundError(2, "no such file"))
        syntax = row.get("AvailableTransferSyntaxUID") or _syntax_of(
            path, str(row["SOPInstanceUID"])
        )
        found.append(
            Instance(
                str(row["StudyInstanceUID"]),
                str(row["SeriesInstanceUID"]),
                str(row["SOPInstanceUID"]),
                str(row.get("SOPClassUID") or ""),
                path,
                str(syntax),
            )
        )
    return found


def _syntax_of(path: Path, sop: str) -> str:
    try:
        return str(read_file_meta_info(path).get("TransferSyntaxUID", ""))
    except OSError as exc:
        raise gone(sop, path, exc) from exc
    except PYDICOM_READ_ERRORS as exc:
        raise DicomWebError(
            500, f"SOP Instance {sop}: its file cannot be read ({type(exc).__name__})"
        ) from exc


def gone(sop: str, path: Path, exc: OSError) -> DicomWebError:
    return DicomWebError(
        404,
        f"SOP Instance {sop} is in the catalog but its file cannot be read "
        f"({exc.strerror or exc}): run 'dicomref scan' on its folder again",
    )
