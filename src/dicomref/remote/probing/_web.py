"""``probe`` for a DICOMweb server: what it really does, measured with real requests.

What the DIMSE probe measures, in QIDO-RS / WADO-RS words: studies, their series, an
instance in the smallest series; instance search by SOP Instance UID alone (relational);
series search without the study; comma UID lists; a retrieve of one instance and of a
list.  And what only DICOMweb needs:

- filter honesty: the known instance searched with a false filter (another SOP class,
  another modality) must come back empty (Orthanc ignores filters it does not support);
- list form: the comma list, and the same UIDs as a repeated key (Orthanc reads only the
  first value of a repeated key);
- the URL budget: the longest request line answered, by binary search on a list's length
  (at most :data:`BUDGET_STEPS` requests, from 1 KiB to :data:`MAX_BUDGET`);
- ``includefield`` of reference sequences (ignored by Orthanc's plugin before 1.17);
- metadata completeness (the references read from an RT object's metadata equal those of
  the object itself), BulkDataURIs, and what the metadata costs against the object;
- the empty answer's form (``204`` or ``200 []``), RetrieveURL correctness (built from
  the base URL, port included), ``transfer-syntax=*``;
- throughput of single-instance GETs at 1, 4 and 8 requests in flight, and of the same
  series in one GET (read for as many objects, then dropped): what a single GET costs
  (``request_seconds``, at the concurrency kept) against each object and each byte of a
  retrieve of many (``object_seconds``, ``bytes_per_second``), which the planner weighs.

Each test's :class:`~dicomref.errors.RemoteError` is recorded as its outcome; only a first
request that reaches no server (or whose credentials are refused) aborts the probe.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from pydicom.dataset import Dataset

from dicomref._dicomweb import _json, _paths
from dicomref._dicomweb._media import multipart_accept
from dicomref._dicomweb._node import WebNode
from dicomref.errors import (
    AssociationError,
    DicomrefError,
    HttpStatusError,
    RemoteError,
    RemoteTimeoutError,
)
from dicomref.remote.planner._capabilities import Capabilities
from dicomref.remote.planner._enums import Level, Method
from dicomref.remote.planner._metadata import PIXEL_MODALITIES
from dicomref.remote.planner._modality import REFERENCE_SEQUENCES
from dicomref.remote.planner._steps import Retrieve
from dicomref.remote.planner._trial import pace
from dicomref.remote.probing._discover import RT_MODALITIES
from dicomref.remote.probing._report import Outcome, ProbeInstance, ProbeReport, ProbeResult
from dicomref.remote.probing._support import Measured, made_up_uid, no, reason, unknown, yes
from dicomref.remote.transport._dicomweb import DicomwebTransport

LOGGER = logging.getLogger(__name__)

MAX_STUDIES: Final = 5
MAX_BUDGET: Final = 32768
"""The longest request line tried (a server that takes it takes what dicomref needs)."""
MIN_BUDGET: Final = 1024
BUDGET_STEPS: Final = 7
"""Requests the binary search of the URL budget may send after its two bounds."""
THROUGHPUT_OBJECTS: Final = 16
"""Instances of the probed series fetched at each concurrency (fewer if it holds fewer)."""
CONCURRENCIES: Final = (1, 4, 8)
_GOOD_ENOUGH: Final = 0.9
"""The concurrency kept is the smallest within this share of the best throughput."""
_TOO_LONG: Final = frozenset({400, 413, 414, 431})
_SEQUENCE_KEYS: Final = (
    "ReferencedRTPlanSequence",
    "ReferencedSeriesSequence",
    "ReferencedSOPSequence",
    "ReferencedStructureSetSequence",
)

Check = Callable[["WebSession"], Measured]


@dataclass(slots=True)
class WebSession:
    """What the tests of one DICOMweb probe share while they run."""

    web: DicomwebTransport
    node: WebNode
    fake_uid: str
    series: list[tuple[str, str, str | None, int | None]] = field(default_factory=list)
    """(study, series, modality, size) as listed."""
    instance: ProbeInstance | None = None
    row: dict[str, Any] | None = None
    siblings: list[str] = field(default_factory=list)
    """Other instances of the probed instance's series."""
    subject: ProbeInstance | None = None
    """An RT object, for sequences and metadata."""
    measures: dict[str, Any] = field(default_factory=dict)
    """Values (not flags) the tests measured, by Capabilities field name."""
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def works(self, name: str) -> bool:
        return self.outcomes.get(name) is Outcome.YES


def _rows(session: WebSession, path: str, *params: tuple[str, str]) -> tuple[int, list[Any]]:
    status, body = session.web.raw(path, tuple(params))
    return status, _json.parse_rows(body) if status != 204 else []


def _sops(rows: list[Any]) -> list[str]:
    return [s for row in rows if (s := _json.first(row, "SOPInstanceUID"))]


def _instance(row: dict[str, Any], modality: str | None, size: int | None) -> ProbeInstance:
    return ProbeInstance(
        study=_json.first(row, "StudyInstanceUID") or "",
        series=_json.first(row, "SeriesInstanceUID") or "",
        sop=_json.first(row, "SOPInstanceUID") or "",
        sop_class=_json.first(row, "SOPClassUID"),
        modality=_json.first(row, "Modality") or modality,
        series_size=size,
    )


# -- finding what to probe with ----------------------------------------------------------------


def check_studies(session: WebSession) -> Measured:
    status, rows = _rows(session, _paths.studies(), ("limit", str(MAX_STUDIES)))
    studies = [s for row in rows if (s := _json.first(row, "StudyInstanceUID"))]
    if not studies:
        return unknown(f"HTTP {status}: the server holds no study to probe with")
    session.measures["studies"] = studies[:MAX_STUDIES]
    return yes(f"{len(studies)} studies listed (limit={MAX_STUDIES})")


def check_series_listing(session: WebSession) -> Measured:
    for study in session.measures.get("studies", []):
        _, rows = _rows(
            session,
            _paths.qido("series", study),
            ("includefield", "NumberOfSeriesRelatedInstances"),
        )
        for row in rows:
            series = _json.first(row, "SeriesInstanceUID")
            size = _json.first(row, "NumberOfSeriesRelatedInstances")
            if series:
                count = int(size) if size and size.isdigit() else None
                session.series.append((study, series, _json.first(row, "Modality"), count))
    if not session.series:
        return unknown("no series listed in the studies found")
    return yes(f"{len(session.series)} series in {len(session.measures['studies'])} studies")


def check_image_level(session: WebSession) -> Measured:
    """An instance of the smallest series holding two or more (to have a sibling)."""

    def order(entry: tuple[str, str, str | None, int | None]) -> tuple[int, int]:
        size = entry[3]
        return (0 if size is not None and size >= 2 else 1, size or 0)

    for study, series, modality, size in sorted(session.series, key=order):
        _, rows = _rows(session, _paths.qido("instances", study, series))
        sops = _sops(rows)
        if sops:
            row = next(r for r in rows if _json.first(r, "SOPInstanceUID") == sops[0])
            row.setdefault(_json.tag_key("StudyInstanceUID"), {"vr": "UI", "Value": [study]})
            row.setdefault(_json.tag_key("SeriesInstanceUID"), {"vr": "UI", "Value": [series]})
            session.instance = _instance(row, modality, size or len(sops))
            session.siblings = sops[1:]
            return yes(
                f"{len(sops)} instances listed in a {modality or ''} series".replace("  ", " ")
            )
    return unknown("no instance listed in any series")


# -- QIDO ------------------------------------------------------------------------------------------


def check_instance_without_parents(session: WebSession) -> Measured:
    if session.instance is None:
        return unknown("no instance to probe with")
    status, rows = _rows(session, "/instances", ("SOPInstanceUID", session.instance.sop))
    if _sops(rows) == [session.instance.sop]:
        session.row = rows[0]
        return yes("/instances?SOPInstanceUID= found it with no study or series")
    return no(f"HTTP {status}, {len(rows)} rows for the instance searched without its study")


def check_series_without_study(session: WebSession) -> Measured:
    if session.instance is None:
        return unknown("no instance to probe with")
    status, rows = _rows(session, "/series", ("SeriesInstanceUID", session.instance.series))
    found = [_json.first(row, "SeriesInstanceUID") for row in rows]
    if found == [session.instance.series]:
        return yes("/series?SeriesInstanceUID= found it")
    return no(f"HTTP {status}, {len(rows)} rows for the series searched without its study")


def check_study_image_query(session: WebSession) -> Measured:
    """An instance searched by SOP Instance UID in its study, no series (AWS HealthImaging
    has no such search): one request locates a study-hinted object."""
    if session.instance is None:
        return unknown("no instance to probe with")
    study, sop = session.instance.study, session.instance.sop
    status, rows = _rows(session, _paths.qido("instances", study), ("SOPInstanceUID", sop))
    if _sops(rows) == [sop]:
        return yes("/studies/{study}/instances?SOPInstanceUID= found it with no series")
    return no(f"HTTP {status}, {len(rows)} rows for the instance searched in its study")


def check_filter_honest(session: WebSession) -> Measured:
    """The known instance with a false filter: an honest server answers nothing."""
    if session.instance is None:
        return unknown("no instance to probe with")
    sop = session.instance.sop
    other_class = "1.2.840.10008.5.1.4.1.1.481.2"  # RT Dose Storage
    if session.instance.sop_class == other_class:
        other_class = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
    other_modality = "OT" if session.instance.modality != "OT" else "MR"
    ignored = []
    for keyword, value in (("SOPClassUID", other_class), ("Modality", other_modality)):
        try:
            _, rows = _rows(session, "/instances", ("SOPInstanceUID", sop), (keyword, value))
        except HttpStatusError as exc:
            ignored_or_refused = f"{keyword} refused (HTTP {exc.status})"
            LOGGER.debug("%s: %s", session.node, ignored_or_refused)
            continue
        if sop in _sops(rows):
            ignored.append(keyword)
    if ignored:
        return no(
            f"a false {' and a false '.join(ignored)} filter still answered the instance: "
            "the server ignores filters it does not support (rows are checked here)"
        )
    return yes("a false SOPClassUID or Modality filter answered nothing")


def check_uid_list_find(session: WebSession) -> Measured:
    if session.instance is None or not session.siblings:
        return unknown("no series of two instances to list")
    pair = [session.instance.sop, session.siblings[0]]
    _, rows = _rows(session, "/instances", ("SOPInstanceUID", ",".join(pair)))
    found = set(_sops(rows))
    if found == set(pair):
        return yes("SOPInstanceUID=a,b matched both")
    return no(f"SOPInstanceUID=a,b matched {len(found & set(pair))} of 2")


def check_uid_list_repeated(session: WebSession) -> Measured:
    if session.instance is None or not session.siblings:
        return unknown("no series of two instances to list")
    pair = [session.instance.sop, session.siblings[0]]
    _, rows = _rows(session, "/instances", *(("SOPInstanceUID", uid) for uid in pair))
    found = set(_sops(rows))
    if found == set(pair):
        return yes("SOPInstanceUID=a&SOPInstanceUID=b matched both")
    return no(
        f"SOPInstanceUID=a&SOPInstanceUID=b matched {len(found & set(pair))} of 2: a repeated "
        "key is not a list here (dicomref sends comma lists)"
    )


def _line_works(session: WebSession, length: int) -> bool:
    """Whether a search whose request line is ``length`` bytes long is answered."""
    assert session.instance is not None
    sop = session.instance.sop
    fixed = _paths.line_length(session.node.path, "/instances", [("SOPInstanceUID", sop)])
    fillers: list[str] = []
    room = length - fixed
    while room > 0:
        filler = made_up_uid()[: max(3, min(64, room - 1))].rstrip(".")
        fillers.append(filler)
        room -= len(filler) + 1
    value = ",".join([sop, *fillers])
    try:
        _, rows = _rows(session, "/instances", ("SOPInstanceUID", value))
    except HttpStatusError as exc:
        if exc.status in _TOO_LONG:
            return False
        raise
    except AssociationError:  # some servers close the connection on an over-long line
        return False
    return sop in _sops(rows)


def check_url_budget(session: WebSession) -> Measured:
    """The longest request line answered, by binary search (bounded)."""
    if session.instance is None or not session.works("uid_list_find"):
        return unknown("UID lists do not work here, or there is no instance to list")
    if _line_works(session, MAX_BUDGET):
        session.measures["url_budget"] = MAX_BUDGET
        return yes(f"a {MAX_BUDGET:,}-byte request line was answered (the most tried)")
    if not _line_works(session, MIN_BUDGET):
        return no(f"even a {MIN_BUDGET:,}-byte request line was refused")
    low, high = MIN_BUDGET, MAX_BUDGET
    for _ in range(BUDGET_STEPS):
        middle = (low + high) // 2
        if _line_works(session, middle):
            low = middle
        else:
            high = middle
    session.measures["url_budget"] = low
    return yes(f"request lines of {low:,} bytes answered, {high:,} refused")


def _rt_subject(session: WebSession) -> ProbeInstance | None:
    for modality in RT_MODALITIES:
        for study, series, listed, size in session.series:
            if listed != modality:
                continue
            _, rows = _rows(session, _paths.qido("instances", study, series))
            for row in rows:
                row.setdefault(_json.tag_key("StudyInstanceUID"), {"vr": "UI", "Value": [study]})
                row.setdefault(_json.tag_key("SeriesInstanceUID"), {"vr": "UI", "Value": [series]})
                return _instance(row, modality, size)
    return None


def check_sequence_includefield(session: WebSession) -> Measured:
    subject = session.subject = _rt_subject(session)
    if subject is None:
        return unknown("no RT object on the server to ask its reference sequences of")
    keys = sorted(set(_SEQUENCE_KEYS) | set(REFERENCE_SEQUENCES.get(subject.modality or "", ())))
    _, rows = _rows(
        session, "/instances", ("SOPInstanceUID", subject.sop), ("includefield", ",".join(keys))
    )
    returned = [
        k
        for k in keys
        for row in rows
        if isinstance(element := row.get(_json.tag_key(k)), dict) and element.get("Value")
    ]
    if returned:
        return yes(f"{', '.join(sorted(set(returned)))} came back with items")
    metadata = json.loads(session.web.metadata(subject.study, subject.series, subject.sop))
    held = [k for k in keys if metadata and _json.tag_key(k) in metadata[0]]
    if held:
        return no(f"{', '.join(held)} ignored: the {subject.modality} holds it, the answer not")
    return unknown(f"the {subject.modality} holds none of {', '.join(keys)}")


# -- metadata ------------------------------------------------------------------------------------


def check_metadata_complete(session: WebSession) -> Measured:
    """The references read from the RT object's metadata against those of the object."""
    from dicomref.extraction import read_json, read_object

    subject = session.subject
    if subject is None:
        return unknown("no RT object to compare metadata with")
    began = time.perf_counter()
    document = session.web.metadata(subject.study, subject.series, subject.sop)
    metadata_seconds = time.perf_counter() - began
    kept = _Keep()
    began = time.perf_counter()
    step = Retrieve(
        Method.GET, Level.IMAGE, subject.study, subject.series, (subject.sop,), 1, "probe"
    )
    session.web.retrieve(step, kept, {subject.sop})
    object_seconds = time.perf_counter() - began
    if subject.sop not in kept.files:
        return unknown("the RT object could not be retrieved to compare with")
    data = kept.files[subject.sop]
    try:
        from_metadata = read_json(document, source=f"{session.node}/…/metadata")
        with tempfile.TemporaryDirectory(prefix="dicomref-probe-") as folder:
            path = Path(folder) / "object.dcm"
            path.write_bytes(data)
            from_object = read_object(path)
    except DicomrefError as exc:
        return no(f"the metadata cannot be read: {exc}")
    ratio = len(document) / max(1, len(data))
    if data:
        session.measures["metadata_size"] = round(ratio, 3)
    if object_seconds > 0:
        session.measures["metadata_cost"] = round(metadata_seconds / object_seconds, 3)
    targets = {r.target for r in from_metadata.references}
    expected = {r.target for r in from_object.references}
    sizes = (
        f"metadata {len(document):,} bytes in {metadata_seconds:.3f} s, object "
        f"{len(data):,} bytes in {object_seconds:.3f} s ({ratio:.1f}x the bytes)"
    )
    if targets == expected:
        return yes(f"the {len(expected)} references of the {subject.modality} are there; {sizes}")
    return no(
        f"{len(expected - targets)} of {len(expected)} references of the {subject.modality} "
        f"missing from its metadata; {sizes}"
    )


def check_bulk_data_uris(session: WebSession) -> Measured:
    """Whether an image's pixel data comes as a BulkDataURI in its metadata."""
    for study, series, modality, _ in session.series:
        if modality not in PIXEL_MODALITIES:
            continue
        _, rows = _rows(session, _paths.qido("instances", study, series), ("limit", "1"))
        sops = _sops(rows)
        if not sops:
            continue
        raw = session.web.metadata(study, series, sops[0]).decode("utf-8", "replace")
        uris = [part.split('"', 2)[1] for part in raw.split('"BulkDataURI"')[1:] if '"' in part]
        if not uris:
            return no(f"the {modality} image's values are inline (no BulkDataURI)")
        right = all(u.startswith(session.node.url) for u in uris)
        where = "under the base URL" if right else f"elsewhere ({uris[0][:80]}): never followed"
        return yes(f"{len(uris)} BulkDataURI(s) in a {modality} image's metadata, {where}")
    return unknown("no image series (pixel data) on the server to ask")


# -- answers -------------------------------------------------------------------------------------


def check_empty_result(session: WebSession) -> Measured:
    status, body = session.web.raw("/instances", (("SOPInstanceUID", session.fake_uid),))
    session.measures["empty_as_204"] = status == 204
    if status == 204:
        return yes("204 No Content")
    if _json.parse_rows(body) == []:
        return yes(f"{status} with an empty array")
    return no(f"{status} with rows for a UID that names nothing")


def check_retrieve_urls(session: WebSession) -> Measured:
    row = session.row
    if row is None or session.instance is None:
        return unknown("no QIDO row to read a RetrieveURL from")
    said = _json.first(row, "RetrieveURL")
    if said is None:
        return unknown("the row carries no RetrieveURL")
    right = session.node.url + _paths.series(session.instance.study, session.instance.series)
    if said.startswith(right):
        return yes("RetrieveURL is under the base URL")
    return no(
        f"RetrieveURL is {said[:100]} (not under {session.node.url}): dicomref builds its own"
    )


# -- WADO ----------------------------------------------------------------------------------------


class _Keep:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def store_file(self, dataset: Dataset, data: bytes) -> None:
        with self._lock:
            self.files[str(dataset.SOPInstanceUID)] = data


def check_any_transfer_syntax(session: WebSession) -> Measured:
    if session.instance is None:
        return unknown("no instance to probe with")
    one = session.instance
    path = _paths.instance(one.study, one.series, one.sop)
    try:
        status, _ = session.web.raw(path, (), multipart_accept(transfer_syntax="*"))
    except HttpStatusError as exc:
        return no(f"HTTP {exc.status}: the objects come in the default syntax")
    return yes(f"HTTP {status}: the objects as stored")


def check_c_get(session: WebSession) -> Measured:
    if session.instance is None:
        return unknown("no instance to probe with")
    one = session.instance
    kept = _Keep()
    step = Retrieve(Method.GET, Level.IMAGE, one.study, one.series, (one.sop,), 1, "probe")
    answer = session.web.retrieve(step, kept, {one.sop})
    if set(kept.files) == {one.sop}:
        return yes("WADO-RS of one instance: it arrived")
    return no(answer.reason or "nothing arrived")


def check_uid_list_get(session: WebSession) -> Measured:
    if session.instance is None or not session.siblings:
        return unknown("no series of two instances to ask for")
    one = session.instance
    pair = (one.sop, session.siblings[0])
    kept = _Keep()
    step = Retrieve(Method.GET, Level.IMAGE, one.study, one.series, pair, 2, "probe")
    answer = session.web.retrieve(step, kept, set(pair))
    if set(kept.files) == set(pair):
        return yes("two instances, one GET each, both arrived")
    return no(answer.reason or f"{len(kept.files)} of 2 arrived")


def _throughput_series(session: WebSession) -> tuple[ProbeInstance, tuple[str, ...]] | None:
    """An image series of :data:`THROUGHPUT_OBJECTS` instances or more (else the largest
    series), and up to that many of its instances."""
    sized = [s for s in session.series if s[3] is not None and s[3] >= 2]
    if not sized:
        if session.instance is None or not session.siblings:
            return None
        return session.instance, (session.instance.sop, *session.siblings)[:THROUGHPUT_OBJECTS]

    def order(entry: tuple[str, str, str | None, int | None]) -> tuple[int, int, int]:
        size = entry[3] or 0
        return (entry[2] not in PIXEL_MODALITIES, size < THROUGHPUT_OBJECTS, -size)

    study, series, modality, size = sorted(sized, key=order)[0]
    _, rows = _rows(
        session, _paths.qido("instances", study, series), ("limit", str(THROUGHPUT_OBJECTS))
    )
    sops = tuple(_sops(rows))[:THROUGHPUT_OBJECTS]
    if not sops:
        return None
    return ProbeInstance(study, series, sops[0], None, modality, size), sops


def check_throughput(session: WebSession) -> Measured:
    picked = _throughput_series(session)
    if picked is None:
        return unknown("no series of two instances or more to time")
    one, sops = picked
    rates: dict[int, float] = {}
    for concurrency in CONCURRENCIES:
        node = dataclasses.replace(session.node, concurrency=concurrency)
        kept = _Keep()
        step = Retrieve(Method.GET, Level.IMAGE, one.study, one.series, sops, len(sops), "probe")
        with DicomwebTransport(node) as web:
            began = time.perf_counter()
            web.retrieve(step, kept, set(sops))
            seconds = time.perf_counter() - began
        if len(kept.files) != len(sops):
            return no(f"{len(kept.files)} of {len(sops)} arrived at concurrency {concurrency}")
        rates[concurrency] = len(sops) / seconds
    best = max(rates.values())
    chosen = min(c for c, r in rates.items() if r >= _GOOD_ENOUGH * best)
    session.measures["concurrency"] = chosen
    session.measures["request_seconds"] = round(1 / rates[chosen], 5)
    shown = ", ".join(f"{c}: {r:.1f}/s" for c, r in rates.items())
    said = f"{len(sops)} instances, objects per second at {shown}; keeping {chosen}"
    return yes(f"{said}; {_bulk(session, one, len(sops))}")


def _bulk(session: WebSession, one: ProbeInstance, parts: int) -> str:
    """Time the same series in one GET, read for ``parts`` objects: what each object and
    each byte costs once a retrieve of many flows (the planner weighs a series in one GET
    against its wanted instances one GET each with it)."""
    try:
        times = session.web.part_times(one.study, one.series, parts)
    except RemoteError as exc:
        return f"the series in one GET failed ({reason(exc)})"
    paced = pace(times)
    if paced is None:
        return f"the series in one GET gave {len(times)} objects: too few to time"
    each, rate = paced
    session.measures["object_seconds"] = round(each, 6)
    session.measures["bytes_per_second"] = round(rate)
    return (
        f"the series in one GET: first object in {times[0][0]:.3f} s, then "
        f"{each * 1000:.1f} ms each ({rate / 1e6:.0f} MB/s)"
    )


TESTS: Final[tuple[tuple[str, str, Check], ...]] = (
    ("study_root", "QIDO /studies", check_studies),
    ("series_listing", "QIDO /studies/{s}/series", check_series_listing),
    ("image_level", "QIDO /studies/{s}/series/{se}/instances", check_image_level),
    (
        "image_query_without_parents",
        "QIDO /instances?SOPInstanceUID=",
        check_instance_without_parents,
    ),
    (
        "series_query_without_study",
        "QIDO /series?SeriesInstanceUID=",
        check_series_without_study,
    ),
    (
        "study_image_query",
        "QIDO /studies/{study}/instances?SOPInstanceUID=",
        check_study_image_query,
    ),
    ("filter_honest", "QIDO the instance with a false filter", check_filter_honest),
    ("uid_list_find", "QIDO SOPInstanceUID=a,b", check_uid_list_find),
    ("uid_list_repeated", "QIDO SOPInstanceUID=a&SOPInstanceUID=b", check_uid_list_repeated),
    ("url_budget", "QIDO lists of growing length", check_url_budget),
    (
        "sequence_includefield",
        "QIDO includefield=<reference sequences>",
        check_sequence_includefield,
    ),
    ("metadata_complete", "WADO metadata of an RT object vs the object", check_metadata_complete),
    ("bulk_data_uris", "WADO metadata of an image (pixel data)", check_bulk_data_uris),
    ("empty_result", "QIDO a UID that names nothing", check_empty_result),
    ("retrieve_urls_correct", "the RetrieveURL of a QIDO row", check_retrieve_urls),
    ("any_transfer_syntax", "WADO transfer-syntax=*", check_any_transfer_syntax),
    ("c_get", "WADO one instance", check_c_get),
    ("uid_list_get", "WADO two instances", check_uid_list_get),
    ("throughput", "WADO instances at 1, 4, 8 in flight", check_throughput),
)


def probe_web(node: WebNode) -> ProbeReport:
    """Measure what the DICOMweb server ``node`` supports.

    Raises :class:`~dicomref.errors.AssociationError` or
    :class:`~dicomref.errors.RemoteTimeoutError` when the first request reaches no server
    or the server refuses our credentials.
    """
    measured_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    results: list[ProbeResult] = []
    with DicomwebTransport(node) as web:
        session = WebSession(web=web, node=node, fake_uid=made_up_uid())
        for name, request, check in TESTS:
            began = time.monotonic()
            try:
                measured = check(session)
            except (AssociationError, RemoteTimeoutError) as exc:
                if not results:
                    raise type(exc)(exc.node, f"cannot probe: {reason(exc)}") from exc
                measured = unknown(f"no answer: {reason(exc)}")
            except HttpStatusError as exc:
                measured = no(reason(exc), exc.status)
            except RemoteError as exc:
                measured = no(reason(exc))
            session.outcomes[name] = measured.outcome
            seconds = round(time.monotonic() - began, 3)
            LOGGER.info("%s: %s: %s (%s)", node, name, measured.outcome, measured.detail)
            results.append(
                ProbeResult(
                    name, request, measured.outcome, measured.detail, measured.status, seconds
                )
            )
    frozen = tuple(results)
    return ProbeReport(
        node=str(node),
        capabilities=web_capabilities(frozen, session.measures, measured_at),
        results=frozen,
        instance=session.instance,
        sequence_instance=session.subject,
        measured_at=measured_at,
        seconds=round(time.monotonic() - started, 3),
    )


def web_capabilities(
    results: tuple[ProbeResult, ...], measures: dict[str, Any], measured_at: str
) -> Capabilities:
    """The flags the results measured, and the values; DICOMweb has no C-MOVE and no
    Patient Root, and a retrieve is a GET on our own connection (``c_get``)."""
    names = {f.name for f in dataclasses.fields(Capabilities)}
    flags: dict[str, Any] = {
        r.name: r.outcome.flag for r in results if r.name in names and r.name != "url_budget"
    }
    flags.update(
        {
            "patient_root": False,
            "c_move": False,
            "uid_list_move": False,
            "move_without_parents": False,
            "image_query_with_empty_parents": flags.get("image_query_without_parents"),
            "get_without_parents": False,
            "sequence_return_keys": flags.get("sequence_includefield"),
            "duplicate_series_rows": False,
            "echo": flags.get("study_root"),
        }
    )
    flags.update({k: v for k, v in measures.items() if k in names})
    return dataclasses.replace(Capabilities(measured_at=measured_at), **flags)
