"""A scripted Study Root Q/R SCP (C-ECHO, C-FIND, C-GET) over DICOM files, in process on
127.0.0.1, for server behaviours the real test servers do not show on demand.

``refuse_image``: a PACS that refuses the IMAGE level (C-FIND and C-GET answer 0xA900)
and hands out whole series only.  ``zero_without_parents``: like default dcmqrscp, a C-GET
at IMAGE level without Study/Series values answers "success, 0 sub-operations" and sends
nothing.  ``substitute``: ``{uid: other}``: object ``uid`` is sent as the content of object
``other`` announced as ``uid`` (C-STORE Affected SOP Instance UID); ``announce_as``:
``{uid: other}``: object ``uid`` is sent as itself announced as ``other``, for a C-GET and
a C-MOVE alike.  ``destinations``: the C-MOVE destinations it knows (AE title -> (host,
port)); any other is refused with 0xA801, as a PACS does.  ``requests`` records each
request as
``(command, level)``; ``store_statuses`` the (status, error comment) of each C-STORE response
our side sent to its C-GETs.  Matching is exact on every key sent with a value (UID lists
included); return keys are answered from the first matching instance.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, StoragePresentationContexts, evt
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.transport import ThreadedAssociationServer

from servers import LOOPBACK, Peer

VERIFICATION = UID("1.2.840.10008.1.1")
STUDY_ROOT_FIND = UID("1.2.840.10008.5.1.4.1.2.2.1")
STUDY_ROOT_GET = UID("1.2.840.10008.5.1.4.1.2.2.3")
STUDY_ROOT_MOVE = UID("1.2.840.10008.5.1.4.1.2.2.2")
UNIQUE = {"STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID", "IMAGE": "SOPInstanceUID"}
ORDER = ("STUDY", "SERIES", "IMAGE")


class ScriptedPacs:
    """See the module docstring."""

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        ae: str = "SCRIPTEDPACS",
        refuse_image: bool = False,
        zero_without_parents: bool = False,
        substitute: Mapping[str, str] | None = None,
        announce_as: Mapping[str, str] | None = None,
        destinations: Mapping[str, tuple[str, int]] | None = None,
    ) -> None:
        self.ae = ae
        self.refuse_image = refuse_image
        self.zero_without_parents = zero_without_parents
        self.substitute = dict(substitute or {})
        self.announce_as = dict(announce_as or {})
        self.destinations = dict(destinations or {})
        self.datasets: list[Dataset] = [pydicom.dcmread(p) for p in paths]
        self.store_statuses: list[tuple[int, str]] = []
        self.requests: list[tuple[str, str]] = []
        self.port = 0
        self._ae: AE | None = None
        self._server: ThreadedAssociationServer | None = None
        self._lock = threading.Lock()

    @property
    def peer(self) -> Peer:
        return Peer(self.ae, LOOPBACK, self.port)

    def start(self) -> Self:
        ae = AE(ae_title=self.ae)
        ae.require_called_aet = True
        for context in (VERIFICATION, STUDY_ROOT_FIND, STUDY_ROOT_GET, STUDY_ROOT_MOVE):
            ae.add_supported_context(context)
        for storage in StoragePresentationContexts:
            assert storage.abstract_syntax is not None
            ae.add_supported_context(
                storage.abstract_syntax, ALL_TRANSFER_SYNTAXES, scp_role=True, scu_role=False
            )
        handlers: list[EventHandlerType] = [
            (evt.EVT_C_FIND, self._on_find),
            (evt.EVT_C_GET, self._on_get),
            (evt.EVT_C_MOVE, self._on_move),
            (evt.EVT_DIMSE_RECV, self._on_message),
        ]
        server = ae.start_server((LOOPBACK, 0), block=False, evt_handlers=handlers)
        assert server is not None
        self._ae, self._server = ae, server
        self.port = int(server.server_address[1])
        return self

    def stop(self) -> None:
        if self._ae is not None:
            self._ae.shutdown()
            self._ae = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- matching --------------------------------------------------------------------------

    def _matches(self, identifier: Dataset) -> tuple[str, list[Dataset]] | None:
        level = str(identifier.get("QueryRetrieveLevel", ""))
        if level not in UNIQUE:
            return None
        keys = [e.keyword for e in identifier if e.keyword and e.VR != "SQ"]
        keys = [k for k in keys if k != "QueryRetrieveLevel"]
        found = [ds for ds in self.datasets if all(_accepts(identifier, ds, k) for k in keys)]
        return level, found

    def _record(self, command: str, identifier: Dataset) -> None:
        with self._lock:
            self.requests.append((command, str(identifier.get("QueryRetrieveLevel", ""))))

    def _on_find(self, event: Event) -> Iterator[tuple[int, Dataset | None]]:
        identifier: Dataset = event.identifier
        self._record("C-FIND", identifier)
        answer = self._matches(identifier)
        if answer is None or (self.refuse_image and answer[0] == "IMAGE"):
            yield 0xA900, None
            return
        level, found = answer
        seen: set[str] = set()
        for ds in found:
            unique = str(ds.get(UNIQUE[level]))
            if unique in seen:
                continue
            seen.add(unique)
            row = Dataset()
            row.QueryRetrieveLevel = level
            for element in identifier:
                keyword = element.keyword
                if keyword and keyword != "QueryRetrieveLevel" and keyword in ds:
                    setattr(row, keyword, ds[keyword].value)
                elif keyword and keyword != "QueryRetrieveLevel":
                    setattr(row, keyword, element.value)
            yield 0xFF00, row

    def _on_get(self, event: Event) -> Iterator[Any]:
        identifier: Dataset = event.identifier
        self._record("C-GET", identifier)
        answer = self._matches(identifier)
        if answer is None or (self.refuse_image and answer[0] == "IMAGE"):
            yield 0xA900, None
            return
        level, found = answer
        blind = not (identifier.get("StudyInstanceUID") and identifier.get("SeriesInstanceUID"))
        if level == "IMAGE" and blind and self.zero_without_parents:
            yield 0
            return
        yield len(found)
        for ds in found:
            yield 0xFF00, self._as_sent(ds)

    def _on_message(self, event: Event) -> None:
        """Record the status (and Error Comment) of each C-STORE response to our C-GETs."""
        command = event.message.command_set
        if command.get("CommandField") == 0x8001:  # C-STORE-RSP
            with self._lock:
                self.store_statuses.append(
                    (int(command.Status), str(command.get("ErrorComment", "")))
                )

    def _on_move(self, event: Event) -> Iterator[Any]:
        identifier: Dataset = event.identifier
        self._record("C-MOVE", identifier)
        answer = self._matches(identifier)
        called = event.move_destination
        name = called.decode("ascii") if isinstance(called, bytes) else str(called or "")
        destination = self.destinations.get(name.strip())
        if destination is None:
            yield None, None  # pynetdicom answers 0xA801: move destination unknown
            return
        yield destination
        if answer is None or (self.refuse_image and answer[0] == "IMAGE"):
            yield 0xA900, None
            return
        found = answer[1]
        yield len(found)
        for ds in found:
            yield 0xFF00, self._as_sent(ds)

    def _as_sent(self, ds: Dataset) -> Dataset:
        """``ds`` as this PACS sends it: itself, or forged (see the module docstring)."""
        uid = str(ds.SOPInstanceUID)
        if uid in self.substitute:
            other = next(d for d in self.datasets if d.SOPInstanceUID == self.substitute[uid])
            return _Announced.of(other, uid)
        if uid in self.announce_as:
            return _Announced.of(ds, self.announce_as[uid])
        return ds


class _Announced(Dataset):
    """A data set whose ``SOPInstanceUID`` attribute (what pynetdicom puts in the C-STORE
    request as the Affected SOP Instance UID) is not the one its encoded content holds."""

    announced = ""

    @classmethod
    def of(cls, content: Dataset, announced: str) -> _Announced:
        forged = cls(content)
        forged.file_meta = content.file_meta
        object.__setattr__(forged, "announced", announced)
        return forged

    def __getattr__(self, name: str) -> Any:
        if name == "SOPInstanceUID":
            return UID(self.announced)
        return super().__getattr__(name)


def _accepts(identifier: Dataset, ds: Dataset, keyword: str) -> bool:
    if keyword not in identifier:
        return True
    value = identifier[keyword].value
    values = [value] if isinstance(value, str) or value is None else list(value)
    wanted = [str(v) for v in values if v]
    return not wanted or str(ds.get(keyword, "")) in wanted
