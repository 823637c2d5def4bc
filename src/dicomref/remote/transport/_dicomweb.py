"""DICOMweb as a :class:`~dicomref.remote.transport._base.Transport`: C-FIND as QIDO-RS,
retrieves as WADO-RS, over httpx.

One :class:`DicomwebTransport` per node (or per pool worker); it keeps a pool of HTTP/1.1
connections (at most ``node.parallel``) and its own GETs run in parallel.

- :meth:`find` sends the QIDO-RS searches a C-FIND identifier maps to (:mod:`._qido`):
  UID lists as comma lists cut to the node's request-line budget, zero-length keys as
  ``includefield``; ``204`` and ``200 []`` are both "no match"; rows that do not match
  an exact filter sent (a server that ignored it) are dropped and counted; an answer the
  server cut (``Warning: 299``) is read on, page by page (``offset``).
- :meth:`retrieve` brings a step's objects: at IMAGE level one GET per wanted instance,
  ``node.parallel`` in flight at once; at SERIES level the series in one GET (the planner
  weighs one against the other with the costs seen on the server).  Each asks
  ``multipart/related; type="application/dicom"; transfer-syntax=*`` (the objects as
  stored) and, if the server refuses that (406, or 500 as Orthanc does),
  the default syntax from then on.  Every part is checked against what was asked
  (:mod:`._wado`): the unasked are refused and counted.
- :meth:`metadata` is an instance's DICOM JSON, raw (for
  :mod:`dicomref.extraction`'s JSON reader, never pydicom's: 28 s against 29 ms on the
  metadata of a large structure set).

Every URL is built from the node's base URL and checked UIDs, never from a
``RetrieveURL`` or ``BulkDataURI`` the server returns (they come back without the port
when the server builds them from a Host header).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Set
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pydicom.dataset import Dataset

from dicomref._dicomweb import _json, _paths
from dicomref._dicomweb._http import make_client, status_error, transport_error
from dicomref._dicomweb._media import DICOM_JSON, multipart_accept, parse_content_type
from dicomref._dicomweb._multipart import (
    DEFAULT_MAX_PART,
    MultipartError,
    boundary_of,
    iter_parts,
)
from dicomref._dicomweb._node import WebNode
from dicomref.errors import AssociationError, HttpStatusError, RemoteError, UsageError
from dicomref.remote.planner._enums import Level, Root
from dicomref.remote.planner._steps import Retrieve
from dicomref.remote.transport import _qido
from dicomref.remote.transport._base import Receiver, RetrieveAnswer, reason_of
from dicomref.remote.transport._wado import Tally, in_parallel, read_answer

if TYPE_CHECKING:
    import httpx

    from dicomref.extraction import JsonInstance

LOGGER = logging.getLogger(__name__)

QIDO: Final = "QIDO-RS"
WADO: Final = "WADO-RS"
MAX_PAGES: Final = 100
"""Pages of one QIDO answer read at most (a server cuts its answers, e.g. at 200 rows)."""
_SYNTAX_REFUSED: Final = frozenset({406, 415, 500, 501})
_UNSUPPORTED: Final = frozenset({405, 501})
_SHOWN: Final = 3


@dataclass(frozen=True, slots=True)
class Location:
    """Where an instance is, as a QIDO row said."""

    study: str
    series: str


@dataclass(frozen=True, slots=True)
class _Get:
    """One WADO-RS GET of a retrieve: its path, and the wanted instances it should bring."""

    path: str
    wanted: tuple[str, ...]


class DicomwebTransport:
    """QIDO-RS / WADO-RS to one DICOMweb server (see the module's docstring)."""

    def __init__(self, node: WebNode, *, max_part: int = DEFAULT_MAX_PART) -> None:
        self.web = node
        self.node = str(node)
        self.max_part = max_part
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._connections = 0
        self._requests = {QIDO: 0, WADO: 0}
        self._taken: dict[str, int] = {}
        self.any_syntax: bool | None = None
        """Whether ``transfer-syntax=*`` is served (None: not tried yet)."""
        self.filtered_rows = 0
        """QIDO rows dropped because they did not match a filter sent."""
        self._locations: dict[str, Location] = {}

    # -- the Transport protocol -------------------------------------------------------------

    @property
    def name(self) -> str:
        """The base URL (credentials are never part of it)."""
        return self.node

    @property
    def find_command(self) -> str:
        return QIDO

    def retrieve_command(self, step: Retrieve) -> str:
        return WADO

    @property
    def connections_opened(self) -> int:
        """TCP connections opened so far (keep-alive connections re-opened included)."""
        with self._lock:
            return self._connections

    @property
    def requests(self) -> dict[str, int]:
        """HTTP requests sent so far, by command (``QIDO-RS``, ``WADO-RS``)."""
        with self._lock:
            return dict(self._requests)

    def take_requests(self) -> dict[str, int]:
        """HTTP requests sent since the last call, by command (the executor's tally)."""
        with self._lock:
            now = dict(self._requests)
            sent = {c: n - self._taken.get(c, 0) for c, n in now.items()}
            self._taken = now
        return {c: n for c, n in sent.items() if n}

    def close(self, *, abort: bool = False) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> DicomwebTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def find(self, level: Level, keys: _qido.Keys, root: Root = Root.STUDY) -> list[Dataset]:
        """The rows a C-FIND of ``keys`` at ``level`` would answer (``root`` has no QIDO
        meaning: a Patient Root identifier's keys are filters like any other).  Each row
        says its level (QueryRetrieveLevel), as a C-FIND response does: a SERIES row's
        NumberOfSeriesRelatedInstances is read as its size."""
        rows = [_json.dataset_of(row) for row in self.find_rows(level, keys)]
        for row in rows:
            row.QueryRetrieveLevel = level.value
        return rows

    def retrieve(
        self, step: Retrieve, receiver: Receiver, expected: Set[str] | None
    ) -> RetrieveAnswer:
        """The objects ``step`` names, each handed to ``receiver`` (header, bytes).

        ``expected``: at IMAGE level the only SOP Instance UIDs accepted (None: all the
        series holds).  Raises :class:`~dicomref.errors.RemoteError` when the server
        cannot be reached (or refuses our credentials); objects the server does not
        serve (HTTP 404 …) are the answer's ``reason``.
        """
        tally = Tally()
        errors: list[RemoteError] = []
        wanted: Set[str] | None = expected
        try:
            if step.level is Level.IMAGE:
                gets = self._image_gets(step, tally)
                wanted = expected if expected is not None else set(step.sop_uids)
            else:
                gets = self._series_get(step)
        except HttpStatusError as exc:  # the QIDO search that places the step failed
            tally.failed.update(step.sop_uids)
            tally.reasons.update(dict.fromkeys(step.sop_uids, reason_of(exc)))
            return self._answer(tally, [exc])
        judge = self._judge(step, tally) if step.trial is not None else None
        for get, outcome in in_parallel(
            gets,
            lambda get: self._wado(get.path, receiver, wanted, tally, judge),
            self.web.parallel,
        ):
            if isinstance(outcome, HttpStatusError):
                for sop in get.wanted:
                    tally.failed.add(sop)
                    tally.reasons[sop] = reason_of(outcome)
                errors.append(outcome)
            elif isinstance(outcome, RemoteError):
                errors.append(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
        fatal = [e for e in errors if not isinstance(e, HttpStatusError)]
        if fatal:
            raise fatal[0]
        return self._answer(tally, errors)

    # -- beyond the protocol -----------------------------------------------------------------

    def find_rows(self, level: Level, keys: _qido.Keys) -> list[Any]:
        """:meth:`find` as raw DICOM JSON rows (the probe reads them as they came)."""
        rows: list[Any] = []
        for search in _qido.searches(level, keys, self.web.path, self.web.budget):
            rows += self._search(search)
        rows, dropped = _qido.honest(level, keys, rows)
        if dropped:
            with self._lock:
                self.filtered_rows += dropped
            LOGGER.info(
                "%s: %d QIDO rows did not match the filters sent (the server ignored one): dropped",
                self.node,
                dropped,
            )
        rows = _qido.unique(level, rows)
        self._remember(rows)
        return rows

    def series_metadata(self, study: str, series: str) -> list[JsonInstance]:
        """Each instance of the series read from its metadata as it streams in (never
        pydicom: :func:`dicomref.extraction.read_json_series`); BulkDataURIs not followed."""
        from dicomref.extraction import read_json_series

        path = _paths.series(study, series) + "/metadata"
        with self._get(WADO, path, (), DICOM_JSON) as response:
            if response.status_code == 204:
                return []
            source = f"{self.node}{path}"
            return list(read_json_series(_body(response), source=source))

    def metadata(self, study: str, series: str, sop: str) -> bytes:
        """The instance's metadata (DICOM JSON), raw."""
        path = _paths.metadata(study, series, sop)
        with self._get(WADO, path, (), DICOM_JSON) as response:
            return response.read()

    def part_times(self, study: str, series: str, parts: int) -> list[tuple[float, int]]:
        """A GET of the whole series read for its first ``parts`` objects only (the
        connection is then dropped): when each arrived (seconds since the request was
        sent) and its bytes.  The probe times a retrieve of many objects with it, without
        moving all of a large series."""
        accept = multipart_accept(transfer_syntax=None if self.any_syntax is False else "*")
        path = _paths.series(study, series)
        times: list[tuple[float, int]] = []
        began = time.perf_counter()
        with self._get(WADO, path, (), accept) as response:
            _, params = parse_content_type(response.headers.get("content-type", ""))
            try:
                stream = iter_parts(_body(response), boundary_of(params), max_part=self.max_part)
                for part in stream:
                    times.append((time.perf_counter() - began, len(part.body)))
                    if len(times) >= parts:
                        break
            except (MultipartError, ValueError) as exc:
                raise AssociationError(self.node, f"{WADO} {path}: {exc}") from exc
        return times

    def raw(
        self, path: str, params: tuple[tuple[str, str], ...] = (), accept: str = DICOM_JSON
    ) -> tuple[int, bytes]:
        """A GET of ``path`` below the base URL with ``params`` as given (status, body),
        for the probe's own requests; HTTP errors raised as for any request."""
        command = WADO if accept != DICOM_JSON else QIDO
        with self._get(command, path, params, accept) as response:
            return response.status_code, response.read()

    # -- retrieves ---------------------------------------------------------------------------

    def _image_gets(self, step: Retrieve, tally: Tally) -> list[_Get]:
        located = self._placed(step)
        for sop in step.sop_uids:
            if sop not in located:
                tally.failed.add(sop)
                tally.reasons[sop] = "the server found no instance of that SOP Instance UID"
        groups: dict[Location, list[str]] = {}
        for sop, where in located.items():
            groups.setdefault(where, []).append(sop)
        return [
            _Get(_paths.instance(where.study, where.series, sop), (sop,))
            for where, sops in groups.items()
            for sop in sops
        ]

    def _series_get(self, step: Retrieve) -> list[_Get]:
        if step.series is None:
            raise HttpStatusError(
                self.node, WADO, 400, "/series", "a series retrieve needs its UID"
            )
        study = step.study if step.study is not None else self._study_of(step.series)
        return [_Get(_paths.series(study, step.series), step.sop_uids)]

    def _placed(self, step: Retrieve) -> dict[str, Location]:
        """Where each of the step's instances is: from the step, from rows seen, or from
        one QIDO search by SOP Instance UID for the rest (WADO-RS needs every UID)."""
        if step.study is not None and step.series is not None:
            here = Location(step.study, step.series)
            return dict.fromkeys(step.sop_uids, here)
        with self._lock:
            known = {s: self._locations[s] for s in step.sop_uids if s in self._locations}
        unknown = [s for s in step.sop_uids if s not in known]
        if unknown:
            keys: _qido.Keys = (
                ("StudyInstanceUID", step.study or ""),
                ("SeriesInstanceUID", step.series or ""),
                ("SOPInstanceUID", _qido.LIST_SEPARATOR.join(unknown)),
            )
            self.find_rows(Level.IMAGE, keys)
            with self._lock:
                known.update({s: self._locations[s] for s in unknown if s in self._locations})
        return known

    def _study_of(self, series: str) -> str:
        keys: _qido.Keys = (("SeriesInstanceUID", series), ("StudyInstanceUID", ""))
        for row in self.find_rows(Level.SERIES, keys):
            study = _json.first(row, "StudyInstanceUID")
            if study:
                return study
        raise HttpStatusError(self.node, QIDO, 404, "/series", f"no series {series}")

    def _judge(self, step: Retrieve, tally: Tally) -> Callable[[str, int], bool]:
        """After each object of a series on trial: whether to go on (the verdict of
        ``step.trial``, its reason kept in ``tally.given_up``)."""
        trial = step.trial
        wanted = frozenset(step.sop_uids)
        parts: list[tuple[float, int]] = []
        seen = 0
        began = time.perf_counter()

        def go_on(sop: str, size: int) -> bool:
            nonlocal seen
            parts.append((time.perf_counter() - began, size))
            seen += sop in wanted
            reason = None if trial is None else trial.verdict(parts, seen)
            if reason is not None:
                tally.given_up = reason
            return reason is None

        return go_on

    def _wado(
        self,
        path: str,
        receiver: Receiver,
        expected: Set[str] | None,
        tally: Tally,
        go_on: Callable[[str, int], bool] | None = None,
    ) -> int:
        """One WADO-RS GET of ``path``, its parts read as they stream in (until ``go_on``
        says to stop)."""
        refused = self.any_syntax is False
        try:
            return self._read(path, refused, receiver, expected, tally, go_on)
        except HttpStatusError as exc:
            if refused or exc.status not in _SYNTAX_REFUSED:
                raise
            LOGGER.info(
                "%s: %s with transfer-syntax=* answered HTTP %d: asking for the default syntax",
                self.node,
                path,
                exc.status,
            )
            count = self._read(path, True, receiver, expected, tally, go_on)
            self.any_syntax = False
            return count

    def _read(
        self,
        path: str,
        default_syntax: bool,
        receiver: Receiver,
        expected: Set[str] | None,
        tally: Tally,
        go_on: Callable[[str, int], bool] | None = None,
    ) -> int:
        accept = multipart_accept(transfer_syntax=None if default_syntax else "*")
        with self._get(WADO, path, (), accept) as response:
            media, params = parse_content_type(response.headers.get("content-type", ""))
            if media != "multipart/related":
                raise AssociationError(
                    self.node,
                    f"{WADO} {path}: the answer is {media or 'untyped'}, not multipart/related",
                )
            try:
                boundary = boundary_of(params)
                parts = iter_parts(_body(response), boundary, max_part=self.max_part)
                count = read_answer(parts, receiver, expected, tally, label=path, go_on=go_on)
            except MultipartError as exc:
                raise AssociationError(self.node, f"{WADO} {path}: {exc}") from exc
            except ValueError as exc:
                raise AssociationError(self.node, f"{WADO} {path}: {exc}") from exc
        if not default_syntax and self.any_syntax is None:
            self.any_syntax = True
        return count

    def _answer(self, tally: Tally, errors: list[RemoteError]) -> RetrieveAnswer:
        """What the GETs of one retrieve add up to, in the transport's words."""
        for sop, why in sorted(tally.reasons.items()):
            LOGGER.info("%s: %s: %s", self.node, sop, why)
        reason = None
        if tally.failed:
            shown = sorted(tally.failed)[:_SHOWN]
            more = f" and {len(tally.failed) - _SHOWN} more" if len(tally.failed) > _SHOWN else ""
            first = tally.reasons.get(shown[0], "not served")
            reason = f"{len(tally.failed)} not served ({', '.join(shown)}{more}); first: {first}"
        elif errors:
            reason = reason_of(errors[0])
        unsupported = any(
            isinstance(e, HttpStatusError) and e.status in _UNSUPPORTED for e in errors
        )
        return RetrieveAnswer(
            completed=len(tally.received) if tally.received or not errors else None,
            reason=reason,
            refused=len(tally.unexpected),
            failures=tuple(sorted(tally.failures.items())),
            unsupported=unsupported and not tally.received,
            given_up=tally.given_up,
        )

    # -- QIDO --------------------------------------------------------------------------------

    def _search(self, search: _qido.Search) -> list[Any]:
        """The rows of one search, every page of them: a server that cuts its answer says
        so with ``Warning: 299`` and the next page is asked with ``offset`` (at most
        :data:`MAX_PAGES` pages)."""
        rows: list[Any] = []
        for _ in range(MAX_PAGES):
            params = search.params + ((("offset", str(len(rows))),) if rows else ())
            with self._get(QIDO, search.path, params, DICOM_JSON) as response:
                body = response.read()
                cut = "299" in response.headers.get("warning", "")
            if response.status_code == 204:
                break
            try:
                page = _json.parse_rows(body)
            except ValueError as exc:
                raise AssociationError(
                    self.node, f"{QIDO} {search.path}: the answer is not DICOM JSON ({exc})"
                ) from exc
            rows += page
            if not (cut and page):
                break
        else:
            LOGGER.warning(
                "%s: %s %s: still cut after %d pages (%d rows): the rest is not read",
                self.node,
                QIDO,
                search.path,
                MAX_PAGES,
                len(rows),
            )
        for row in rows:
            if search.study and _json.first(row, "StudyInstanceUID") is None:
                row[_json.tag_key("StudyInstanceUID")] = {"vr": "UI", "Value": [search.study]}
            if search.series and _json.first(row, "SeriesInstanceUID") is None:
                row[_json.tag_key("SeriesInstanceUID")] = {"vr": "UI", "Value": [search.series]}
        return rows

    def _remember(self, rows: list[Any]) -> None:
        with self._lock:
            for row in rows:
                study = _json.first(row, "StudyInstanceUID")
                series = _json.first(row, "SeriesInstanceUID")
                sop = _json.first(row, "SOPInstanceUID")
                if study and series and sop:
                    self._locations[sop] = Location(study, series)

    # -- HTTP --------------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = make_client(self.web)
            return self._client

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            with self._lock:
                self._connections += 1

    @contextmanager
    def _get(
        self, command: str, path: str, params: tuple[tuple[str, str], ...], accept: str
    ) -> Iterator[httpx.Response]:
        """A streamed GET of ``path`` (below the base URL); HTTP errors raised as
        dicomref's, the body left to the caller."""
        import httpx

        client = self._http()
        with self._lock:
            self._requests[command] += 1
        query = _paths.query_string(params)
        url = self.web.url + path + (f"?{query}" if query else "")
        began = time.perf_counter()
        try:
            with client.stream(
                "GET", url, headers={"Accept": accept}, extensions={"trace": self._trace}
            ) as response:
                if response.status_code >= 400:
                    body = response.read()
                    raise status_error(
                        self.web, command, path, response.status_code, response.reason_phrase, body
                    )
                yield response
        except httpx.HTTPError as exc:
            raise transport_error(self.web, command, path, exc) from exc
        except httpx.InvalidURL as exc:  # longer than httpx takes (64 KiB)
            raise UsageError(f"{self.node}: {command} {path}: {exc}") from exc
        finally:
            seconds = time.perf_counter() - began
            shown = f"{path}?{query}" if query else path
            LOGGER.debug("%s: %s %s (%.3f s)", self.node, command, shown[:300], seconds)


def _body(response: httpx.Response) -> Iterator[bytes]:
    """The body's bytes as they come: raw when the server did not encode them (as asked:
    ``Accept-Encoding: identity``; no decoder in the way), decoded otherwise."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return response.iter_raw()
    return response.iter_bytes()
