"""The steps that find the objects depending on what was fetched: the doses of a plan, the
plans on a structure set, the structure sets drawn on an image series.

Pure: which modalities depend on which (:data:`DOWNSTREAM`), and the finds and retrieves
that look for them; :mod:`dicomref.remote.fetching._dependents` sends them and reads what
comes back.  No server matches on sequence contents, so the referring objects' headers must
be read: either as find return keys (:func:`referrer_find`, where the server returns
sequence contents), or by retrieving the study's series of the referring modalities whole
(:func:`series_listing`, :func:`series_read`: RT objects are few and small).
"""

from __future__ import annotations

from pydicom import uid as uids

from dicomref.model import ObjectSummary
from dicomref.remote.planner._enums import Level, Method, ParentKeys, Root
from dicomref.remote.planner._modality import REFERENCE_SEQUENCES, modality_for
from dicomref.remote.planner._steps import LIST_SEPARATOR, Find, Keys, Retrieve, Scope, ScopeKind

#: Referring modalities searched for an object of each modality.
DOWNSTREAM: dict[str, tuple[str, ...]] = {
    "RTSTRUCT": ("RTPLAN", "RTDOSE"),
    "RTPLAN": ("RTDOSE", "RTRECORD"),
}
#: Referring modalities searched for an image (CT, MR, PET …): structure sets drawn on it.
IMAGE_DOWNSTREAM: tuple[str, ...] = ("RTSTRUCT",)

#: The SOP classes of each referring modality.
REFERRER_CLASSES: dict[str, tuple[str, ...]] = {
    "RTSTRUCT": (uids.RTStructureSetStorage,),
    "RTPLAN": (uids.RTPlanStorage, uids.RTIonPlanStorage),
    "RTDOSE": (uids.RTDoseStorage,),
    "RTRECORD": (
        uids.RTBeamsTreatmentRecordStorage,
        uids.RTIonBeamsTreatmentRecordStorage,
        uids.RTBrachyTreatmentRecordStorage,
        uids.RTTreatmentSummaryRecordStorage,
    ),
}


def downstream(summary: ObjectSummary) -> tuple[str, ...]:
    """The modalities of objects that may depend on ``summary``."""
    modality = modality_for(summary.sop_class) or summary.modality
    if modality in DOWNSTREAM:
        return DOWNSTREAM[modality]
    if "Image Storage" in uids.UID(summary.sop_class).name:
        return IMAGE_DOWNSTREAM
    return ()


def referrer_find(
    study: str, modality: str, targets: int, root: Root, patient_id: str | None
) -> Find:
    """One IMAGE find of the study's objects of ``modality``, their reference sequences
    asked back (for servers that return sequence contents)."""
    keys: Keys = (
        ("StudyInstanceUID", study),
        ("SeriesInstanceUID", ""),
        ("SOPClassUID", LIST_SEPARATOR.join(REFERRER_CLASSES[modality])),
        ("SOPInstanceUID", ""),
    )
    if root is Root.PATIENT:
        keys = (("PatientID", patient_id or ""), *keys)
    return Find(
        level=Level.IMAGE,
        keys=keys,
        return_keys=REFERENCE_SEQUENCES.get(modality, ()),
        purpose=f"list the {modality} objects of study {study} with their references "
        f"(for dependents of {_objects(targets)})",
        resolves=frozenset(),
        scope=Scope(ScopeKind.SERVER),
        root=root,
        parents=ParentKeys.VALUES,
    )


def series_listing(study: str, targets: int, root: Root, patient_id: str | None) -> Find:
    """The find listing the study's series with their modality and size."""
    patient: Keys = (("PatientID", patient_id or ""),) if root is Root.PATIENT else ()
    return Find(
        level=Level.SERIES,
        keys=(
            *patient,
            ("StudyInstanceUID", study),
            ("Modality", ""),
            ("SeriesInstanceUID", ""),
        ),
        return_keys=("SeriesNumber", "NumberOfSeriesRelatedInstances"),
        purpose=f"list the series of study {study} (for dependents of {_objects(targets)})",
        resolves=frozenset(),
        scope=Scope(ScopeKind.STUDY, study=study),
        root=root,
    )


def series_read(
    method: Method,
    study: str,
    series: str,
    modality: str | None,
    count: int | None,
    targets: int,
    root: Root,
    patient_id: str | None,
) -> Retrieve:
    """The retrieve of a candidate series whole, to read which objects reference ours."""
    size = _objects(count) if count is not None else "size unknown"
    return Retrieve(
        method=method,
        level=Level.SERIES,
        study=study,
        series=series,
        sop_uids=(),
        expected=count,
        purpose=f"retrieve {modality} series {series} whole ({size}) to read "
        f"which objects reference {_objects(targets)} of ours",
        root=root,
        patient_id=patient_id,
    )


def _objects(count: int) -> str:
    return f"{count} object" if count == 1 else f"{count} objects"
