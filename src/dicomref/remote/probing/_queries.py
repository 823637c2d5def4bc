"""The probe's C-ECHO and C-FIND tests.  Each takes the :class:`Session` and returns what it
measured; a RemoteError it raises is recorded by the probe (see ``_probe``)."""

from __future__ import annotations

from dicomref.remote.planner._enums import Root
from dicomref.remote.probing._discover import (
    MAX_STUDIES,
    instances_in,
    list_series,
    list_studies,
    smallest_first,
)
from dicomref.remote.probing._session import Session
from dicomref.remote.probing._support import Measured, identifier, image_keys, no, unknown, yes

MAX_SERIES_TRIED = 3
"""Series asked for their instances before the probe gives up finding one."""

NO_INSTANCE = "no instance to probe with (see image_level)"


def check_echo(session: Session) -> Measured:
    session.client.echo()
    return yes("success")


def check_study_root(session: Session) -> Measured:
    session.studies = list_studies(session.client)
    return yes(f"{len(session.studies)} studies")


def check_series_listing(session: Session) -> Measured:
    if not session.studies:
        why = "the server holds no studies" if session.works("study_root") else "no study list"
        return unknown(f"{why}: nothing to probe with")
    session.series = list_series(session.client, session.studies)
    listed = min(len(session.studies), MAX_STUDIES)
    return yes(f"{len(session.series)} series in {listed} of {len(session.studies)} studies")


def check_image_level(session: Session) -> Measured:
    if not session.series:
        return unknown("no series listed: nothing to probe with")
    tried = smallest_first(session.series)[:MAX_SERIES_TRIED]
    for series in tried:
        found = instances_in(session.client, series)
        if found and (session.instance is None or len(found) >= 2):
            session.instance = found[0]
            session.sibling = found[1] if len(found) >= 2 else None
        if len(found) >= 2:
            break
    if session.instance is None:
        return unknown(f"the {len(tried)} smallest series hold no instances: nothing to probe with")
    size = session.instance.series_size
    modality = session.instance.modality or "no modality"
    return yes(f"probing with an instance of a {modality} series of {size}")


def check_duplicate_series_rows(session: Session) -> Measured:
    """From the SERIES answers already read: no request of its own."""
    if not session.series:
        return unknown("no series listed")
    doubled = [s for s in session.series if s.rows > 1]
    if doubled:
        most = max(doubled, key=lambda s: s.rows)
        return yes(
            f"{len(doubled)} series answered more than once ({most.rows} identical rows for "
            "one series): rows are de-duplicated"
        )
    sizes = [s.count for s in session.series if s.count is not None]
    if session.instance is not None and session.instance.series_size is not None:
        sizes.append(session.instance.series_size)
    if any(size > 1 for size in sizes):
        return no("one row per series")
    return unknown("one row per series, but no series is known to hold 2+ instances")


def check_patient_root(session: Session) -> Measured:
    rows = session.client.find(
        "PATIENT", identifier(PatientID=session.patient_id or ""), root=Root.PATIENT
    )
    return yes(f"PATIENT-level C-FIND answered ({len(rows)} row{'' if len(rows) == 1 else 's'})")


def _found(session: Session, level: str, keys: dict[str, object], uid_key: str, uid: str) -> bool:
    rows = session.client.find(level, identifier(**keys))
    return any(str(row.get(uid_key, "")) == uid for row in rows)


def check_image_query_without_parents(session: Session) -> Measured:
    if session.instance is None:
        return unknown(NO_INSTANCE)
    sop = session.instance.sop
    if _found(session, "IMAGE", {"SOPInstanceUID": sop}, "SOPInstanceUID", sop):
        return yes("found")
    return no("success but 0 matches")


def check_image_query_with_empty_parents(session: Session) -> Measured:
    if session.instance is None:
        return unknown(NO_INSTANCE)
    sop = session.instance.sop
    keys: dict[str, object] = {"StudyInstanceUID": "", "SeriesInstanceUID": ""}
    if _found(session, "IMAGE", {**keys, "SOPInstanceUID": sop}, "SOPInstanceUID", sop):
        return yes("found")
    return no("success but 0 matches")


def check_uid_list_find(session: Session) -> Measured:
    """A list naming the instance, its sibling (if any) and a made-up UID: every existing
    listed instance must match, the made-up one nothing."""
    instance = session.instance
    if instance is None:
        return unknown(NO_INSTANCE)
    real = [instance.sop] + ([session.sibling.sop] if session.sibling is not None else [])
    rows = session.client.find("IMAGE", image_keys(instance, [session.fake_uid, *real]))
    found = {str(row.get("SOPInstanceUID", "")) for row in rows}
    if found >= set(real):
        return yes(f"the {len(real)} listed instances were found (the made-up UID names nothing)")
    return no(
        f"success but {len(found & set(real))} of the {len(real)} listed instances found: "
        "the list was not matched value by value"
    )


def check_series_query_without_study(session: Session) -> Measured:
    if session.instance is None:
        return unknown(NO_INSTANCE)
    series = session.instance.series
    keys: dict[str, object] = {"StudyInstanceUID": "", "SeriesInstanceUID": series}
    if _found(session, "SERIES", keys, "SeriesInstanceUID", series):
        return yes("found")
    return no("success but 0 matches")


def check_max_uid_list(session: Session) -> Measured:
    return unknown("not measured (it would take many requests); lists are split anyway")
