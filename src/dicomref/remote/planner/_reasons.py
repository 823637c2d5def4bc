"""Why a wanted object is declared missing: the UID, and what was searched or tried."""

from __future__ import annotations

from dicomref.model import InstanceKey
from dicomref.remote.planner._candidates import candidate_studies
from dicomref.remote.planner._options import PlanOptions
from dicomref.remote.planner._state import State
from dicomref.remote.planner._steps import Scope, ScopeKind
from dicomref.remote.planner._wanted import Wanted


def not_found(state: State, wanted: Wanted, options: PlanOptions, skipped: list[str]) -> str:
    """E.g. "SOP Instance 1.2.3 not found in study 1.2 (searched 3 RTSTRUCT series); …"."""
    uid = wanted.sop_uid
    scopes = state.searched.get(uid, frozenset())
    notes = list(state.notes.get(uid, ()))
    if Scope(ScopeKind.SERVER) in scopes and uid not in state.unplaced:
        return _join(
            f"SOP Instance {uid} is not on the server: {state.words.image_find} by SOP "
            "Instance UID across the whole server found nothing",
            notes,
        )
    label = f"{wanted.modality} series" if wanted.modality else "series"
    per_study: dict[str, set[str]] = {}
    for scope in scopes:
        if scope.kind is ScopeKind.SERIES and scope.study and scope.series:
            per_study.setdefault(scope.study, set()).add(scope.series)
    studies, _ = candidate_studies(state, wanted, options)
    studies += [s for s in per_study if s not in studies]
    parts: list[str] = []
    for study in studies:
        if Scope(ScopeKind.STUDY_IMAGES, study=study) in scopes:
            parts.append(f"study {study} (searched whole by SOP Instance UID)")
            continue
        described = _study_searched(state, wanted, study, per_study.get(study, set()), label)
        if described:
            parts.append(f"study {study} ({described})")
    extras: list[str] = []
    if uid in state.unplaced:
        extras.append(
            "the server has it (found by SOP Instance UID) but did not say in which study "
            "and series, and does not retrieve it without them"
        )
    if not wanted.patient_id:
        extras.append("no Patient ID to search the patient's other studies by")
    elif not options.search_patient_studies:
        extras.append("the patient's other studies were not searched")
    if not parts and state.capabilities.flat_image_query is None:
        extras.append(
            f"no location hint, and the server does not answer {state.words.image_level} "
            "queries without Study/Series keys"
        )
    head = f"SOP Instance {uid} not found"
    head += f" in {', '.join(parts)}" if parts else ": nothing could be searched"
    return _join(head, extras + skipped + notes)


def _study_searched(
    state: State, wanted: Wanted, study: str, searched: set[str], label: str
) -> str:
    """E.g. "searched 3 RTSTRUCT series", "no RTSTRUCT series; 1 other series searched"."""
    rows = state.series_in(study, wanted.modality)
    if rows is None:
        return f"searched {len(searched)} {label}" if searched else ""
    candidates = {r.series for r in rows if r.series} | {wanted.series or ""}
    hits = len(searched & candidates)
    others = len(searched - candidates)
    bits: list[str] = []
    if hits:
        bits.append(f"searched {hits} {label}")
    elif rows:
        bits.append(f"{len(rows)} {label}, none searched")
    else:
        bits.append(f"no {label}")
    if others:
        bits.append(f"{others} other series searched")
    return "; ".join(bits)


def not_retrieved(state: State, uid: str, key: InstanceKey, *, too_big: int | None = None) -> str:
    """E.g. "SOP Instance 1.2.3 is in series 1.2.4 of study 1.2, but …"."""
    head = f"SOP Instance {uid} is in series {key.series} of study {key.study}, but"
    attempts = [a.note for a in state.attempts.get(uid, ())]
    if too_big is not None:
        attempts.append(f"its series has {too_big} instances, over the series-fallback limit")
    caps = state.capabilities
    if not attempts and caps.c_move is False and caps.c_get is False:
        return f"{head} the server offers neither {state.words.retrieves()}"
    if not attempts:
        return f"{head} no retrieve is possible with the options given"
    return _join(f"{head} the server did not send it", attempts + list(state.notes.get(uid, ())))


def _join(head: str, details: list[str]) -> str:
    return "; ".join([head, *details]) if details else head
