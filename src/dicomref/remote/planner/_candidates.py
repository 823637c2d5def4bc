"""Which studies and series may hold a wanted object, in the order they are searched.

Studies: the hinted study, the study of the hinted series, the referring object's own
study, then the patient's other studies: those whose ModalitiesInStudy names the
modality first, those that do not say next, those that lack it last; newest first
within each group.  Series within a study: the hinted series, then smallest first (by
NumberOfSeriesRelatedInstances, unknown last), then by Series Number.
"""

from __future__ import annotations

from dicomref.remote.planner._match import Match
from dicomref.remote.planner._options import PlanOptions
from dicomref.remote.planner._state import State
from dicomref.remote.planner._wanted import Wanted


def candidate_studies(state: State, wanted: Wanted, options: PlanOptions) -> tuple[list[str], bool]:
    """Studies to search for ``wanted``, in order, and whether the patient's still need listing."""
    home = state.series_home.get(wanted.series) if wanted.series else None
    studies: list[str] = []
    for study in (wanted.study, home, wanted.source_study):
        if study and study not in studies:
            studies.append(study)
    if not (wanted.patient_id and options.search_patient_studies):
        return studies, False
    rows = state.studies.get(wanted.patient_id)
    if rows is None:
        return studies, True
    for row in ordered_studies(rows, wanted.modality):
        if row.study and row.study not in studies:
            studies.append(row.study)
    return studies, False


def ordered_series(rows: tuple[Match, ...], hint: str | None) -> list[Match]:
    """Series rows in search order: ``hint`` first, then smallest, then by Series Number."""

    def key(row: Match) -> tuple[int, int, int, str]:
        return (
            0 if row.series == hint else 1,
            row.count if row.count is not None else 1 << 62,
            row.number if row.number is not None else 1 << 62,
            row.series or "",
        )

    return sorted(rows, key=key)


def ordered_studies(rows: tuple[Match, ...], modality: str | None) -> list[Match]:
    """Study rows in search order: by ModalitiesInStudy rank, then newest first."""

    def rank(row: Match) -> int:
        if modality is None or not row.modalities:
            return 1
        return 0 if modality in row.modalities else 2

    newest_first = sorted(rows, key=lambda r: ((r.date or "") + (r.time or ""), r.study or ""))
    newest_first.reverse()
    return sorted(newest_first, key=rank)
