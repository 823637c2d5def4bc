"""What the planner is asked for: one wanted object with its location hints."""

from __future__ import annotations

from dataclasses import dataclass

from dicomref.errors import UsageError
from dicomref.model import Reference
from dicomref.remote.planner._modality import modality_for


@dataclass(frozen=True, slots=True)
class Wanted:
    """One object to fetch, by SOP Instance UID, with what is known of where it lives.

    ``study`` / ``series`` are hints read from the referring object (None where it gives
    none).  ``patient_id`` is the referring object's Patient ID (rung 5: search the
    patient's studies).  ``source_study`` is the referring object's own study: searched
    right after the hinted study, because objects usually sit with their referrers.
    """

    sop_uid: str
    sop_class: str | None = None
    study: str | None = None
    series: str | None = None
    patient_id: str | None = None
    source_study: str | None = None

    @property
    def modality(self) -> str | None:
        """The Modality of the series that holds objects of this class, if fixed."""
        return modality_for(self.sop_class)

    @classmethod
    def from_reference(
        cls,
        reference: Reference,
        *,
        source_study: str | None = None,
        patient_id: str | None = None,
    ) -> Wanted:
        """The object ``reference`` points at; :class:`UsageError` if it is no stored object."""
        if not reference.instance:
            raise UsageError(
                f"{reference.path}: {reference.target} is a {reference.kind.value}, "
                "not a stored object: there is nothing to fetch"
            )
        return cls(
            sop_uid=reference.target,
            sop_class=reference.target_class,
            study=reference.study,
            series=reference.series,
            patient_id=patient_id,
            source_study=source_study,
        )

    def merged(self, other: Wanted) -> Wanted:
        """This one, with the fields it lacks taken from ``other`` (the first hint wins)."""
        return Wanted(
            sop_uid=self.sop_uid,
            sop_class=self.sop_class or other.sop_class,
            study=self.study or other.study,
            series=self.series or other.series,
            patient_id=self.patient_id or other.patient_id,
            source_study=self.source_study or other.source_study,
        )
