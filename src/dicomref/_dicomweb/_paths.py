"""QIDO-RS and WADO-RS paths, query strings, and UID lists cut to a request-line budget.

Every path is built from the node's base URL and UIDs checked here (digits and dots);
never from the RetrieveURL or BulkDataURI a server returns (they come back wrong, e.g.
without the port, when the server builds them from a Host header).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import quote

from dicomref.errors import UsageError

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_REQUEST_LINE_EXTRA = len("GET ") + len("?") + len(" HTTP/1.1\r\n")
UID_SEPARATOR = ","
"""QIDO-RS lists values with commas (PS3.18 §8.3.4.1); a repeated key is not a list
(Orthanc uses only its first value)."""


def check_uid(uid: str) -> str:
    """``uid`` if it is a UID (digits and dots, at most 64 characters); UsageError if not.
    Nothing else goes into a path."""
    if len(uid) > 64 or not _UID.match(uid):
        raise UsageError(f"{uid!r} is not a UID (digits and dots, at most 64 characters)")
    return uid


def studies() -> str:
    return "/studies"


def study(study_uid: str) -> str:
    return f"/studies/{check_uid(study_uid)}"


def series(study_uid: str, series_uid: str) -> str:
    return f"{study(study_uid)}/series/{check_uid(series_uid)}"


def instance(study_uid: str, series_uid: str, sop_uid: str) -> str:
    return f"{series(study_uid, series_uid)}/instances/{check_uid(sop_uid)}"


def metadata(study_uid: str, series_uid: str, sop_uid: str) -> str:
    return f"{instance(study_uid, series_uid, sop_uid)}/metadata"


def qido(level: str, study_uid: str | None = None, series_uid: str | None = None) -> str:
    """The QIDO-RS search path of ``level`` (``studies``, ``series``, ``instances``) inside
    the study and series given: ``/series``, ``/studies/{s}/series``, ``/instances``,
    ``/studies/{s}/instances``, ``/studies/{s}/series/{se}/instances``."""
    if level == "studies":
        return studies()
    if level == "series":
        return f"{study(study_uid)}/series" if study_uid else "/series"
    if level != "instances":
        raise ValueError(f"no QIDO-RS level {level!r}")
    if study_uid and series_uid:
        return f"{series(study_uid, series_uid)}/instances"
    if study_uid:
        return f"{study(study_uid)}/instances"
    return "/instances"


def query_string(params: Iterable[tuple[str, str]]) -> str:
    """``key=value&...`` with values percent-encoded, commas and ``*`` kept as they are."""
    return "&".join(f"{quote(key, safe='')}={quote(value, safe=',*')}" for key, value in params)


def line_length(base_path: str, path: str, params: Iterable[tuple[str, str]]) -> int:
    """Bytes of the request line ``GET {base}{path}?{query} HTTP/1.1``."""
    return _REQUEST_LINE_EXTRA + len(base_path) + len(path) + len(query_string(params))


def cut_list(values: Sequence[str], room: int) -> Iterator[tuple[str, ...]]:
    """``values`` in runs whose comma-joined, percent-encoded text fits in ``room`` bytes
    (a value longer than ``room`` alone still gets a run of its own)."""
    run: list[str] = []
    size = 0
    for value in values:
        extra = len(quote(value, safe=",*")) + (1 if run else 0)
        if run and size + extra > room:
            yield tuple(run)
            run, size, extra = [], 0, extra - 1
        run.append(value)
        size += extra
    if run:
        yield tuple(run)
