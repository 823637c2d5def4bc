"""What each reference is: the role (:class:`~dicomref.model.Kind`) a target plays for its source.

The generic walk (:mod:`._walk`) finds every item holding a ReferencedSOPInstanceUID;
:func:`classify` names it.  The decision, first match wins:

1. **A study or a series, by position** (:data:`LEVEL_SEQUENCES`, ``instance=False``): an item
   of a study-level sequence (ReferencedStudySequence, RTReferencedStudySequence,
   StudiesContainingOtherReferencedInstancesSequence, CurrentRequestedProcedureEvidenceSequence,
   PertinentOtherEvidenceSequence, IdenticalDocumentsSequence, PredecessorDocumentsSequence)
   names a STUDY, and an item of a series-level sequence (RTReferencedSeriesSequence,
   ReferencedSeriesSequence) a SERIES, at its own level, whatever its ReferencedSOPClassUID
   says.  The standard (PS3.3 C.8.8.5, 10.6, C.12.2, C.17.2) puts a study SOP class there, or
   nothing at all; Varian ARIA and Brainlab write RT Structure Set Storage with the Study
   Instance UID as the instance (:func:`nonconformity` names the deviation for ``check``).
2. **Not a stored object, by class or by position** (``instance=False``): Detached Study
   Management / Study Component Management → STUDY, Detached Patient Management → PATIENT,
   (Modality / General Purpose) Performed Procedure Step → PROCEDURE_STEP, any other SOP class
   pydicom knows that is not a storage class → OTHER, except in a sequence of the table in
   (5), which names a stored object whatever the class.  Before the class, the sequences of
   :data:`NON_INSTANCE_SEQUENCES` decide whatever the class says:
   ReferencedPatientSequence → PATIENT; ReferencedPerformedProcedureStepSequence,
   ReferencedProcedureStepSequence, InstanceLevelReferencedPerformedProcedureStepSequence →
   PROCEDURE_STEP; ReferencedVisitSequence → OTHER.
3. **The source's family** (:data:`FAMILY_RULES`, keyed by the source's SOP class): one small
   function per family, reading the chain of enclosing sequence keywords:

   ============  ==========================================================  ===============
   family        where the reference sits                                    kind
   ============  ==========================================================  ===============
   SR, KOS       under CurrentRequestedProcedureEvidenceSequence or          EVIDENCE
                 PertinentOtherEvidenceSequence
   SR, KOS       in a ContentSequence item of value type IMAGE               by target class
                                                                             (4), else
                                                                             REFERENCED_IMAGE
   SEG           SourceImageSequence (per-frame DerivationImageSequence),    SOURCE_IMAGE
                 ReferencedSeriesSequence / ReferencedInstanceSequence,
                 StudiesContainingOtherReferencedInstancesSequence
   PR            under any ReferencedImageSequence (ReferencedSeriesSequence, REFERENCED_IMAGE
                 GraphicAnnotationSequence, SoftcopyVOILUTSequence, …)
   REG           under RegistrationSequence, DeformableRegistrationSequence, SOURCE_IMAGE
                 ReferencedSeriesSequence, StudiesContaining…Sequence
   RT            the sequence table (5) comes before the target class        see (5)
   ============  ==========================================================  ===============

   Spatial registrations: the images a registration object registers are its SOURCE_IMAGEs;
   REGISTRATION is the role of a registration object when another object points at it
   (by its class, or ReferencedSpatialRegistrationSequence).
4. **The target's class** (:data:`CLASS_KINDS`): RT Structure Set → STRUCTURE_SET; RT Plan,
   RT Ion Plan → PLAN; RT Dose → DOSE; RT Image, Enhanced (Continuous) RT Image → RT_IMAGE;
   the RT treatment and radiation records → TREATMENT_RECORD; Segmentation classes →
   SEGMENTATION; presentation state classes → PRESENTATION_STATE; spatial registration
   classes → REGISTRATION.
5. **The innermost sequence** (:data:`SEQUENCE_KINDS`): ReferencedStructureSetSequence →
   STRUCTURE_SET; ReferencedRTPlanSequence → PLAN; ReferencedDoseSequence → DOSE;
   ContourImageSequence → CONTOUR_IMAGE; ReferencedReferenceImageSequence → RT_IMAGE;
   ReferencedTreatmentRecordSequence → TREATMENT_RECORD; SourceImageSequence,
   SourceInstanceSequence → SOURCE_IMAGE; ReferencedImageSequence, ReferencedInstanceSequence,
   ReferencedImageEvidenceSequence → REFERENCED_IMAGE; ReferencedSpatialRegistrationSequence
   → REGISTRATION.  Under an evidence sequence (any source) → EVIDENCE.
6. Otherwise OTHER: a reference whose ReferencedSOPClassUID is missing or unknown is still a
   reference to a stored object, named by its position (5) where its class tells nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Final, NamedTuple

from pydicom import uid as uids
from pydicom._uid_dict import UID_dictionary

from dicomref.model import Kind


class Context(NamedTuple):
    """Where one reference sits, as the rules see it.

    ``chain`` is the keywords of the enclosing sequences, outermost first (the last one holds
    the referencing item).  ``value_type`` is the ValueType of the item around that sequence
    (SR content items), if any.  A tuple, so that :func:`classify` can cache its answers.
    """

    source_class: str | None
    chain: tuple[str, ...]
    target_class: str | None
    value_type: str | None


Rule = Callable[[Context], Kind | None]


def _sop_classes() -> dict[str, str]:
    return {uid: entry[0] for uid, entry in UID_dictionary.items() if entry[1] == "SOP Class"}


_SOP_CLASS_NAMES: Final = _sop_classes()

#: SOP classes of stored objects, as pydicom's UID registry lists them.
STORAGE_CLASSES: Final = frozenset(
    uid
    for uid, name in _SOP_CLASS_NAMES.items()
    if ("Storage" in name or (not name and uid.startswith("1.2.840.10008.5.1.4.1.1.")))
    and "Commitment" not in name
    and uid != uids.MediaStorageDirectoryStorage
)


def _named(*fragments: str) -> frozenset[str]:
    """Storage classes whose registered name contains one of ``fragments``."""
    return frozenset(
        uid
        for uid in STORAGE_CLASSES
        if any(fragment in _SOP_CLASS_NAMES[uid] for fragment in fragments)
    )


SR_CLASSES: Final = _named("SR Storage", "Key Object Selection", "Procedure Log")
SEGMENTATION_CLASSES: Final = _named("Segmentation Storage")
PRESENTATION_STATE_CLASSES: Final = _named("Presentation State Storage")
REGISTRATION_CLASSES: Final = _named("Registration Storage")
RT_CLASSES: Final = _named("RT ", "Radiation")

NON_INSTANCE_CLASSES: Final[Mapping[str, Kind]] = {
    "1.2.840.10008.3.1.2.3.1": Kind.STUDY,  # Detached Study Management
    "1.2.840.10008.3.1.2.3.2": Kind.STUDY,  # Study Component Management
    "1.2.840.10008.3.1.2.1.1": Kind.PATIENT,  # Detached Patient Management
    "1.2.840.10008.3.1.2.3.3": Kind.PROCEDURE_STEP,  # Modality Performed Procedure Step
    "1.2.840.10008.5.1.4.32.3": Kind.PROCEDURE_STEP,  # General Purpose Performed PS
}

#: SOP classes a study reference should carry (PS3.3 10.6.1, C.8.8.5).
STUDY_CLASSES: Final = frozenset(
    uid for uid, kind in NON_INSTANCE_CLASSES.items() if kind is Kind.STUDY
)

#: Sequences whose items name a study or a series at their own level (decision 1).
LEVEL_SEQUENCES: Final[Mapping[str, Kind]] = {
    "ReferencedStudySequence": Kind.STUDY,
    "RTReferencedStudySequence": Kind.STUDY,
    "StudiesContainingOtherReferencedInstancesSequence": Kind.STUDY,
    "CurrentRequestedProcedureEvidenceSequence": Kind.STUDY,
    "PertinentOtherEvidenceSequence": Kind.STUDY,
    "IdenticalDocumentsSequence": Kind.STUDY,
    "PredecessorDocumentsSequence": Kind.STUDY,
    "RTReferencedSeriesSequence": Kind.SERIES,
    "ReferencedSeriesSequence": Kind.SERIES,
}

#: Other sequences whose items never name a stored object (decision 2).
NON_INSTANCE_SEQUENCES: Final[Mapping[str, Kind]] = {
    "ReferencedPatientSequence": Kind.PATIENT,
    "ReferencedPerformedProcedureStepSequence": Kind.PROCEDURE_STEP,
    "ReferencedProcedureStepSequence": Kind.PROCEDURE_STEP,
    "InstanceLevelReferencedPerformedProcedureStepSequence": Kind.PROCEDURE_STEP,
    "ReferencedVisitSequence": Kind.OTHER,
}

CLASS_KINDS: Final[Mapping[str, Kind]] = {
    uids.RTStructureSetStorage: Kind.STRUCTURE_SET,
    uids.RTPlanStorage: Kind.PLAN,
    uids.RTIonPlanStorage: Kind.PLAN,
    uids.RTDoseStorage: Kind.DOSE,
    **{uid: Kind.RT_IMAGE for uid in _named("RT Image Storage")},
    **{uid: Kind.TREATMENT_RECORD for uid in _named("Record Storage")},
    **{uid: Kind.SEGMENTATION for uid in SEGMENTATION_CLASSES},
    **{uid: Kind.PRESENTATION_STATE for uid in PRESENTATION_STATE_CLASSES},
    **{uid: Kind.REGISTRATION for uid in REGISTRATION_CLASSES},
}

SEQUENCE_KINDS: Final[Mapping[str, Kind]] = {
    "ReferencedStructureSetSequence": Kind.STRUCTURE_SET,
    "ReferencedRTPlanSequence": Kind.PLAN,
    "ReferencedDoseSequence": Kind.DOSE,
    "ContourImageSequence": Kind.CONTOUR_IMAGE,
    "ReferencedReferenceImageSequence": Kind.RT_IMAGE,
    "ReferencedTreatmentRecordSequence": Kind.TREATMENT_RECORD,
    "SourceImageSequence": Kind.SOURCE_IMAGE,
    "SourceInstanceSequence": Kind.SOURCE_IMAGE,
    "ReferencedImageSequence": Kind.REFERENCED_IMAGE,
    "ReferencedInstanceSequence": Kind.REFERENCED_IMAGE,
    "ReferencedImageEvidenceSequence": Kind.REFERENCED_IMAGE,
    "ReferencedSpatialRegistrationSequence": Kind.REGISTRATION,
}

EVIDENCE_SEQUENCES: Final = frozenset(
    {"CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"}
)


# -- one small rule per family ---------------------------------------------------------------


def _structured_report(context: Context) -> Kind | None:
    """SR and KOS: evidence lists, and images named in the content tree."""
    if context.chain and context.chain[0] in EVIDENCE_SEQUENCES:
        return Kind.EVIDENCE
    if "ContentSequence" in context.chain and context.chain[-1] == "ReferencedSOPSequence":
        by_class = CLASS_KINDS.get(context.target_class or "")
        if by_class is not None:
            return by_class
        if context.value_type == "IMAGE":
            return Kind.REFERENCED_IMAGE
    return None


_SEGMENTATION_SOURCES: Final = frozenset(
    {
        "SourceImageSequence",
        "DerivationImageSequence",
        "ReferencedSeriesSequence",
        "ReferencedInstanceSequence",
        "StudiesContainingOtherReferencedInstancesSequence",
    }
)


def _segmentation(context: Context) -> Kind | None:
    """SEG: the images segmented, per frame and in the common instance reference lists."""
    if _SEGMENTATION_SOURCES.intersection(context.chain):
        return Kind.SOURCE_IMAGE
    return None


def _presentation_state(context: Context) -> Kind | None:
    """Presentation states: the images they are applied to."""
    if "ReferencedImageSequence" in context.chain:
        return Kind.REFERENCED_IMAGE
    return None


_REGISTERED: Final = frozenset(
    {
        "RegistrationSequence",
        "DeformableRegistrationSequence",
        "ReferencedSeriesSequence",
        "StudiesContainingOtherReferencedInstancesSequence",
    }
)


def _registration(context: Context) -> Kind | None:
    """Spatial registrations: the images they register are their source images."""
    if context.chain and context.chain[0] in _REGISTERED:
        return Kind.SOURCE_IMAGE
    return None


def _radiotherapy(context: Context) -> Kind | None:
    """RT objects: the referencing sequence names the role (a dose's plan, a plan's set)."""
    return SEQUENCE_KINDS.get(context.chain[-1]) if context.chain else None


FAMILY_RULES: Final[Mapping[str, Rule]] = {
    **{uid: _structured_report for uid in SR_CLASSES},
    **{uid: _segmentation for uid in SEGMENTATION_CLASSES},
    **{uid: _presentation_state for uid in PRESENTATION_STATE_CLASSES},
    **{uid: _registration for uid in REGISTRATION_CLASSES},
    **{uid: _radiotherapy for uid in RT_CLASSES},
}


def sop_class_name(uid: str) -> str | None:
    """The registered name of a SOP class, or None if pydicom does not know it as one."""
    return _SOP_CLASS_NAMES.get(uid)


@functools.lru_cache(maxsize=4096)
def classify(context: Context) -> tuple[Kind, bool]:
    """The kind of one reference and whether its target is a stored object (see module doc)."""
    target_class = context.target_class
    innermost = context.chain[-1] if context.chain else ""
    level = LEVEL_SEQUENCES.get(innermost)
    if level is not None:
        return level, False
    if innermost in NON_INSTANCE_SEQUENCES:
        return NON_INSTANCE_SEQUENCES[innermost], False
    if target_class is not None and target_class in NON_INSTANCE_CLASSES:
        return NON_INSTANCE_CLASSES[target_class], False
    if target_class in _SOP_CLASS_NAMES and target_class not in STORAGE_CLASSES:
        # A service class (Verification, Storage Commitment …) where an object belongs is a
        # writer's slip: the place still names an object.  Anywhere else it names none.
        if innermost in SEQUENCE_KINDS:
            return SEQUENCE_KINDS[innermost], True
        return Kind.OTHER, False
    rule = FAMILY_RULES.get(context.source_class or "")
    kind = rule(context) if rule is not None else None
    if kind is None:
        kind = CLASS_KINDS.get(target_class or "")
    if kind is None and EVIDENCE_SEQUENCES.intersection(context.chain[:1]):
        kind = Kind.EVIDENCE
    if kind is None:
        kind = SEQUENCE_KINDS.get(innermost, Kind.OTHER)
    return kind, True


def nonconformity(kind: Kind, target_class: str | None) -> str | None:
    """How a study or series reference departs from the standard, or None if it does not.

    A study reference should name a study SOP class (:data:`STUDY_CLASSES`); no SOP class
    stands for a series, so a series-level item with a ReferencedSOPInstanceUID of its own
    departs from it whatever it names.  References of other kinds: None.
    """
    if kind is Kind.SERIES:
        named = f" ({_class_label(target_class)})" if target_class else ""
        return f"a series item holds a ReferencedSOPInstanceUID of its own{named}"
    if kind is not Kind.STUDY or target_class in STUDY_CLASSES:
        return None
    if target_class is None:
        return "a study reference has no ReferencedSOPClassUID"
    habit = " (Varian/Brainlab habit)" if target_class == uids.RTStructureSetStorage else ""
    return f"ReferencedSOPClassUID of a study reference names {_class_label(target_class)}{habit}"


def _class_label(uid: str | None) -> str:
    name = _SOP_CLASS_NAMES.get(uid or "")
    if name:
        return f"{name} {uid}" if uid not in STORAGE_CLASSES else name
    return f"{uid}, a SOP class dicomref does not know"
