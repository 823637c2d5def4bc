"""The probe's C-GET and C-MOVE tests, and the sequence return keys test (which may need the
object itself to tell "dropped" from "not there").

What arrived is always compared with what was asked: "success, 0 sub-operations" is how
some servers answer a request they did not serve.  Objects are kept in memory only.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomref.errors import RemoteError, StatusError
from dicomref.remote.planner._modality import REFERENCE_SEQUENCES
from dicomref.remote.probing._discover import instances_in, rt_series
from dicomref.remote.probing._report import Outcome, ProbeInstance
from dicomref.remote.probing._session import Session
from dicomref.remote.probing._support import (
    Measured,
    from_error,
    identifier,
    image_keys,
    judge_retrieve,
    no,
    reason,
    unknown,
    yes,
)
from dicomref.remote.transport._dimse_client import RetrieveResult
from dicomref.remote.transport._receiver import listen_address

SEQUENCE_KEYS = (
    "ReferencedRTPlanSequence",
    "ReferencedSeriesSequence",
    "ReferencedSOPSequence",
    "ReferencedStructureSetSequence",
)
"""Reference sequences asked back (empty) on every object; the ones its modality is known
to carry (:data:`REFERENCE_SEQUENCES`) are added."""

NO_INSTANCE = "no instance to probe with (see image_level)"


Fetch = Callable[[Session, Dataset, Collection[str]], RetrieveResult]


def _get(session: Session, keys: Dataset, wanted: Collection[str]) -> RetrieveResult:
    return session.client.get(keys, "IMAGE", session.keeper, expected=set(wanted))


def _move(session: Session, keys: Dataset, wanted: Collection[str]) -> RetrieveResult:
    return session.client.move(keys, "IMAGE", on_store=session.keeper, expected=set(wanted))


def check_c_get(session: Session) -> Measured:
    if session.instance is None:
        return unknown(NO_INSTANCE)
    sop = session.instance.sop
    return judge_retrieve(_get(session, image_keys(session.instance, sop), {sop}), {sop})


def move_advice(session: Session) -> str:
    """What to configure so that the server can send C-MOVE objects to us."""
    node = session.node
    host = listen_address(node.host) or "this host's address"
    if node.store_port is None:
        return (
            "no store port was given, so ours listened on a free port the server cannot know: "
            f"configure the server with a DICOM node {node.our_ae} at {host}:PORT and give "
            "that PORT (--store-port, or store_port in nodes.toml)"
        )
    return (
        f"configure the server with a DICOM node {node.our_ae} at {host}:{node.store_port} "
        "(or give --ae/--store-port to match the node it has)"
    )


def check_c_move(session: Session) -> Measured:
    if session.instance is None:
        return unknown(NO_INSTANCE)
    sop = session.instance.sop
    try:
        result = _move(session, image_keys(session.instance, sop), {sop})
    except StatusError as exc:
        measured = from_error(exc)
        if exc.status == 0xA801:
            detail = (
                f"0xA801 move destination unknown: the server does not know our AE title "
                f"{session.node.our_ae!r}"
            )
        elif exc.status == 0xC000:
            detail = (
                "0xC000 Unable to process: the server could not send to us (Orthanc answers "
                "this to a destination it does not know)"
            )
        elif 0xA700 <= exc.status <= 0xA7FF:
            detail = f"{measured.detail}: the server could not reach us"
        else:
            return measured
        return no(f"{detail}; {move_advice(session)}", exc.status)
    measured = judge_retrieve(result, {sop})
    if measured.outcome is not Outcome.YES and not result.received and result.failed:
        return no(f"{measured.detail}; {move_advice(session)}", measured.status)
    return measured


def _instance(session: Session, method: str) -> ProbeInstance | Measured:
    """The instance to retrieve again, once ``method`` is known to work; else why not."""
    if session.instance is None:
        return unknown(NO_INSTANCE)
    if not session.works(method):
        return unknown(f"{method} does not work here: nothing to compare with")
    return session.instance


def _list(session: Session, method: str, fetch: Fetch) -> Measured:
    """A list naming the instance, its sibling (if any) and a made-up UID; if that fails,
    the real ones alone (some servers fail a whole list for one absent UID)."""
    instance = _instance(session, method)
    if isinstance(instance, Measured):
        return instance
    real = [instance.sop] + ([session.sibling.sop] if session.sibling is not None else [])
    try:
        first = judge_retrieve(
            fetch(session, image_keys(instance, [session.fake_uid, *real]), real), real
        )
    except StatusError as exc:
        first = from_error(exc)
    if first.outcome is Outcome.YES or len(real) < 2:
        return first
    again = judge_retrieve(fetch(session, image_keys(instance, real), real), real)
    if again.outcome is not Outcome.YES:
        return first
    return yes(
        f"a list of {len(real)} existing UIDs works, but one that also names an absent UID "
        f"fails ({first.detail}): list only UIDs the server has"
    )


def check_uid_list_get(session: Session) -> Measured:
    return _list(session, "c_get", _get)


def check_uid_list_move(session: Session) -> Measured:
    return _list(session, "c_move", _move)


def check_get_without_parents(session: Session) -> Measured:
    instance = _instance(session, "c_get")
    if isinstance(instance, Measured):
        return instance
    keys = identifier(SOPInstanceUID=instance.sop)
    return judge_retrieve(_get(session, keys, {instance.sop}), {instance.sop})


def check_move_without_parents(session: Session) -> Measured:
    instance = _instance(session, "c_move")
    if isinstance(instance, Measured):
        return instance
    keys = identifier(SOPInstanceUID=instance.sop)
    return judge_retrieve(_move(session, keys, {instance.sop}), {instance.sop})


# -- sequence return keys ------------------------------------------------------------------------


def _sequence_subject(session: Session) -> ProbeInstance | None:
    """An RT object if the listed series hold one (it carries reference sequences), else
    the probed instance."""
    series = rt_series(session.series)
    if series is None:
        return session.instance
    if session.instance is not None and session.instance.series == series.uid:
        return session.instance
    found = instances_in(session.client, series)
    return found[0] if found else session.instance


def _items(dataset: Dataset, keyword: str) -> int:
    value = dataset.get(keyword)
    return len(value) if isinstance(value, Sequence) else 0


def _held(session: Session, subject: ProbeInstance) -> Dataset | None:
    """The object itself: kept from an earlier test, else retrieved (None if it cannot be)."""
    dataset = session.keeper.get(subject.sop)
    if dataset is not None:
        return dataset
    keys = image_keys(subject, subject.sop)
    for method, fetch in (("c_get", _get), ("c_move", _move)):
        if session.works(method):
            try:
                fetch(session, keys, {subject.sop})
            except RemoteError:
                continue
            dataset = session.keeper.get(subject.sop)
            if dataset is not None:
                return dataset
    return None


def check_sequence_return_keys(session: Session) -> Measured:
    try:
        subject = _sequence_subject(session)
    except RemoteError as exc:
        return unknown(f"could not find an RT object to ask: {reason(exc)}")
    if subject is None:
        return unknown(NO_INSTANCE)
    session.sequence_instance = subject
    what = f"{subject.modality} object" if subject.modality else "object"
    keys = sorted(set(SEQUENCE_KEYS) | set(REFERENCE_SEQUENCES.get(subject.modality or "", ())))
    empty: dict[str, object] = {keyword: [] for keyword in keys}
    rows = session.client.find("IMAGE", image_keys(subject, subject.sop, **empty))
    rows = [row for row in rows if str(row.get("SOPInstanceUID", "")) == subject.sop]
    if not rows:
        return unknown(f"the {what} was not found again")
    returned = sorted({k for row in rows for k in keys if _items(row, k) > 0})
    if returned:
        return yes(f"{', '.join(returned)} came back with items ({what})")
    dataset = _held(session, subject)
    if dataset is None:
        return unknown(
            f"no sequence came back, and the {what} could not be retrieved to tell whether "
            "it holds any"
        )
    held = [k for k in keys if _items(dataset, k) > 0]
    if held:
        return no(f"{', '.join(held)} dropped: the {what} holds it, the answer did not")
    return unknown(f"the {what} holds none of {', '.join(keys)}: nothing to compare")
