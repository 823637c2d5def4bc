"""What a query/retrieve server really does, as measured by the probe.

Negotiation proves nothing (no server grants relational queries, yet some answer them),
so every flag here is the outcome of a real request.  Each flag is tri-state: ``True``
(measured, works), ``False`` (measured, refused or silently useless) and ``None`` (not
measured).  The planner treats ``None`` conservatively, as a strict hierarchical PACS
would behave; see :meth:`Capabilities.conservative` and the notes on each view below.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dicomref.errors import UsageError
from dicomref.remote.planner._enums import Method, ParentKeys, Root

#: Version of the JSON written by :meth:`Capabilities.to_json`.
CAPABILITIES_JSON_VERSION = 1


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What one server does, measured with real requests.

    Attributes (each ``True`` / ``False`` / ``None`` = not measured unless noted):

    ``echo``: answers C-ECHO.
    ``study_root`` / ``patient_root``: accepts the Study Root / Patient Root
    information model for C-FIND (and the matching C-MOVE/C-GET models).
    ``image_level``: answers IMAGE-level requests at all (hierarchical ones included);
    some PACS refuse the level and can only hand out whole series.
    ``image_query_without_parents``: answers an IMAGE-level C-FIND by SOPInstanceUID
    with StudyInstanceUID and SeriesInstanceUID left out (Orthanc).
    ``image_query_with_empty_parents``: answers it with them sent zero-length (lenient
    servers: default dcmqrscp, pynetdicom qrscp); strict dcmqrscp (-XF -XM) refuses
    with 0xA900.
    ``uid_list_find`` / ``uid_list_move`` / ``uid_list_get``: a backslash-separated
    list of SOP Instance UIDs matches every listed instance (pynetdicom qrscp fails).
    ``series_query_without_study``: answers a SERIES-level C-FIND by SeriesInstanceUID
    with StudyInstanceUID zero-length.
    ``c_move`` / ``c_get``: the retrieve service works (objects arrive).
    ``sequence_return_keys``: C-FIND returns sequence contents asked as return keys
    (ReferencedStructureSetSequence …): Orthanc does, dcmqrscp and qrscp drop them.
    ``move_without_parents`` / ``get_without_parents``: an IMAGE-level C-MOVE / C-GET
    with the Study/Series keys left out actually sends the objects (default dcmqrscp
    answers "success, 0 sub-operations" and sends nothing).
    ``duplicate_series_rows``: a SERIES-level C-FIND answers one identical row per
    instance (qrscp); rows are always de-duplicated, and when this is ``True`` the row
    count stands in for a missing NumberOfSeriesRelatedInstances.
    ``max_uid_list``: the most UIDs one list may hold (``None`` = no limit measured).
    ``request_seconds``: what a retrieve of one object costs on this node (seconds:
    round trips, the server's own work, the object); ``object_seconds``: what each
    further object costs once a retrieve of many flows; ``bytes_per_second``: how fast
    bytes arrive then.  Seen by the probe (``request_seconds``) and by every fetch
    (:mod:`dicomref.remote.planner._costs`), ``None`` when never measured.
    ``measured_at``: when the probe ran (ISO 8601), ``None`` if never.

    DICOMweb servers (measured by :mod:`dicomref.remote.probing._web`; ``None`` on DIMSE
    nodes): ``filter_honest``: a known instance searched with a false filter comes back
    empty (Orthanc ignores filters it does not support: rows are checked here anyway);
    ``uid_list_repeated``: a repeated key is a list (Orthanc uses its first value);
    ``url_budget``: the longest request line answered (bytes; UID lists are cut to fit);
    ``sequence_includefield``: ``includefield`` of a reference sequence returns it;
    ``metadata_complete``: an object's references read from its metadata are its own;
    ``bulk_data_uris``: metadata gives large values as BulkDataURIs;
    ``metadata_cost``: seconds of an RT object's metadata over seconds of the object
    itself; ``metadata_size``: bytes of that metadata over bytes of the object (above 1
    where metadata carries every value, as JSON text: it then grows faster than the object
    with the object's size; below 1 where the server gives large values as BulkDataURIs);
    ``empty_as_204``: an empty search answers 204 (else ``200 []``);
    ``retrieve_urls_correct``: QIDO's RetrieveURL is under the base URL;
    ``any_transfer_syntax``: ``transfer-syntax=*`` is served; ``concurrency``: the
    requests in flight that gave the best throughput.
    ``study_image_query``: answers an IMAGE-level search by SOP Instance UID inside one
    study with no series value (QIDO-RS ``/studies/{s}/instances?SOPInstanceUID=``):
    one request locates a study-hinted object instead of listing the study's series
    and searching one (AWS HealthImaging has no such search; a refusal teaches False).

    The flags a fetch learns on the way are kept like a probe's (:meth:`merged`), so the
    next fetch starts where the last one left off.
    """

    echo: bool | None = None
    study_root: bool | None = None
    patient_root: bool | None = None
    image_level: bool | None = None
    image_query_without_parents: bool | None = None
    image_query_with_empty_parents: bool | None = None
    uid_list_find: bool | None = None
    uid_list_move: bool | None = None
    uid_list_get: bool | None = None
    series_query_without_study: bool | None = None
    c_move: bool | None = None
    c_get: bool | None = None
    sequence_return_keys: bool | None = None
    move_without_parents: bool | None = None
    get_without_parents: bool | None = None
    duplicate_series_rows: bool | None = None
    max_uid_list: int | None = None
    request_seconds: float | None = None
    object_seconds: float | None = None
    bytes_per_second: float | None = None
    measured_at: str | None = None
    filter_honest: bool | None = None
    uid_list_repeated: bool | None = None
    url_budget: int | None = None
    sequence_includefield: bool | None = None
    metadata_complete: bool | None = None
    bulk_data_uris: bool | None = None
    metadata_cost: float | None = None
    empty_as_204: bool | None = None
    retrieve_urls_correct: bool | None = None
    any_transfer_syntax: bool | None = None
    concurrency: int | None = None
    study_image_query: bool | None = None
    metadata_size: float | None = None

    @classmethod
    def unknown(cls) -> Capabilities:
        """Nothing measured: every flag ``None`` (planned like :meth:`conservative`)."""
        return cls()

    @classmethod
    def web(cls) -> Capabilities:
        """What every DICOMweb server does by its protocol, before any probe: searches are
        study-rooted (no Patient Root), and a retrieve is a GET answered on our own
        connection (C-GET, never C-MOVE); the rest is learnt as for DIMSE."""
        return cls(
            study_root=True,
            patient_root=False,
            c_move=False,
            uid_list_move=False,
            move_without_parents=False,
            duplicate_series_rows=False,
            study_image_query=True,
        )

    @classmethod
    def conservative(cls) -> Capabilities:
        """A strict hierarchical PACS: Study Root, hierarchical queries, C-MOVE, no lists."""
        return cls(
            echo=True,
            study_root=True,
            patient_root=False,
            image_level=True,
            image_query_without_parents=False,
            image_query_with_empty_parents=False,
            uid_list_find=False,
            uid_list_move=False,
            uid_list_get=False,
            series_query_without_study=False,
            c_move=True,
            c_get=False,
            sequence_return_keys=False,
            move_without_parents=False,
            get_without_parents=False,
            duplicate_series_rows=False,
        )

    def learned(self, **flags: bool | None) -> Capabilities:
        """A copy with these flags changed (what a refused request taught us)."""
        changes: dict[str, Any] = dict(flags)
        return dataclasses.replace(self, **changes)

    def merged(self, newer: Capabilities) -> Capabilities:
        """These capabilities updated with what ``newer`` measured: every value ``newer``
        knows wins, and a value it does not know (``None``) never erases a measured one."""
        changes: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(newer, field.name)
            if value is not None:
                changes[field.name] = value
        return dataclasses.replace(self, **changes)

    # -- planning views: how each flag (tri-state) is used -----------------------------

    @property
    def query_root(self) -> Root | None:
        """Study Root unless measured absent; Patient Root only when measured present."""
        if self.study_root is not False:
            return Root.STUDY
        if self.patient_root is True:
            return Root.PATIENT
        return None

    @property
    def flat_image_query(self) -> ParentKeys | None:
        """How to send a SOP-UID-only IMAGE C-FIND, or ``None`` if it is not to be tried.

        Zero-length parents are preferred: the answer then carries the hierarchy.
        Unmeasured means no.
        """
        if self.image_level is False:
            return None
        if self.image_query_with_empty_parents is True:
            return ParentKeys.EMPTY
        if self.image_query_without_parents is True:
            return ParentKeys.ABSENT
        return None

    @property
    def image_level_usable(self) -> bool:
        """Hierarchical IMAGE level is the standard baseline: unmeasured means yes."""
        return self.image_level is not False

    def lists(self, method: Method | None = None) -> bool:
        """UID lists for C-FIND (``method`` None) or the retrieve ``method``; unmeasured: no."""
        if method is None:
            return self.uid_list_find is True
        if method is Method.MOVE:
            return self.uid_list_move is True
        return self.uid_list_get is True

    def may_list(self, method: Method | None = None) -> bool:
        """Whether a UID list is worth trying: measured to work, or not measured yet (a
        list that is refused costs one request, and teaches the flag)."""
        if method is None:
            flag = self.uid_list_find
        else:
            flag = self.uid_list_move if method is Method.MOVE else self.uid_list_get
        return flag is not False

    def list_flag(self, method: Method | None = None) -> str:
        """The name of the flag that says whether lists work for ``method`` (None: C-FIND)."""
        if method is None:
            return "uid_list_find"
        return "uid_list_move" if method is Method.MOVE else "uid_list_get"

    def retrieves(self, method: Method) -> bool:
        """Whether ``method`` may be tried: only a measured ``False`` rules it out."""
        flag = self.c_move if method is Method.MOVE else self.c_get
        return flag is not False

    def retrieves_without_parents(self, method: Method) -> bool:
        """An IMAGE-level retrieve with Study/Series keys left out: only if measured."""
        flag = self.move_without_parents if method is Method.MOVE else self.get_without_parents
        return flag is True

    # -- JSON ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain values, with a ``version`` key, ready for :func:`json.dumps`."""
        data: dict[str, Any] = {"version": CAPABILITIES_JSON_VERSION}
        for field in dataclasses.fields(self):
            data[field.name] = getattr(self, field.name)
        return data

    def to_json(self) -> str:
        """Compact JSON with sorted keys (stable, so the catalog can compare copies)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Capabilities:
        """Read what :meth:`to_dict` wrote.

        Keys this version does not know are ignored (a newer probe may measure more);
        a known key with a value of the wrong type raises :class:`UsageError`.
        """
        version = data.get("version", CAPABILITIES_JSON_VERSION)
        if not isinstance(version, int) or version > CAPABILITIES_JSON_VERSION:
            raise UsageError(
                f"capabilities JSON version {version!r} is newer than this dicomref "
                f"understands ({CAPABILITIES_JSON_VERSION}): probe the server again"
            )
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name not in data:
                continue
            value = data[field.name]
            if not _valid(field.name, value):
                raise UsageError(
                    f"capabilities JSON: {field.name!r} must be "
                    f"{_expected(field.name)}, not {value!r}"
                )
            values[field.name] = value
        return dataclasses.replace(cls(), **values)

    @classmethod
    def from_json(cls, text: str) -> Capabilities:
        """Read what :meth:`to_json` wrote; :class:`UsageError` if it is not that."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"capabilities JSON cannot be read: {exc}") from exc
        if not isinstance(data, dict):
            raise UsageError("capabilities JSON must be an object")
        return cls.from_dict(data)


_MEASURES = frozenset(
    {"request_seconds", "object_seconds", "bytes_per_second", "metadata_cost", "metadata_size"}
)
_COUNTS = frozenset({"max_uid_list", "url_budget", "concurrency"})


def _expected(name: str) -> str:
    if name in _COUNTS:
        return "a positive integer or null"
    if name in _MEASURES:
        return "a positive number or null"
    if name == "measured_at":
        return "a string or null"
    return "true, false or null"


def _valid(name: str, value: object) -> bool:
    if value is None:
        return True
    if name in _COUNTS:
        return isinstance(value, int) and not isinstance(value, bool) and value > 0
    if name == "measured_at":
        return isinstance(value, str)
    if name in _MEASURES:
        return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    return isinstance(value, bool)
