"""How the planner may spend bytes and round trips."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dicomref.remote.planner._capabilities import Capabilities
from dicomref.remote.planner._enums import Method

#: Which retrieve service to prefer; "auto" takes C-GET unless it is measured not to work,
#: or C-MOVE is measured to work and C-GET is not.
Preference = Literal["move", "get", "auto"]


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """Planner settings.

    ``retrieve``: preferred retrieve service; the other is the fallback.  Under "auto",
    C-GET is bet on while unmeasured: it needs no C-MOVE destination configured on the
    server and no association back to us per request, and a server without it refuses
    its presentation context (known from the association, no request spent) or the
    request (one request).
    ``max_uids_per_request`` / ``max_list_chars``: cap one UID list (the measured
    ``Capabilities.max_uid_list`` caps it further); 32 KiB keeps an element well under
    the 64 KiB a 16-bit explicit-VR length allows.
    ``search_patient_studies``: rung 5, search the patient's other studies by Patient ID.
    ``series_fallback``: where IMAGE level is refused (or an object will not come alone),
    retrieve whole series and keep what was asked; ``series_fallback_limit`` refuses
    series with more instances than this (``None`` = no limit).
    ``whole_series_when_complete``: when every instance of a series is wanted and the
    IMAGE-level plan needs more than one request, retrieve the series in one (same bytes).
    ``series_when_cheaper``: where lists do not work, retrieve a series whole instead of
    its wanted objects one by one when that is estimated faster with the costs seen on
    the server (:mod:`dicomref.remote.planner._costs`); the extras are discarded and reported.
    ``sequence_return_keys``: ask reference sequences back on IMAGE C-FINDs where the
    server returns them.
    ``retrieve_early``: retrieve located objects while others are still being located
    (default: locate everything first, so retrieves group per series into fewer requests).
    ``retrieve_hinted``: retrieve an object whose study and series are hinted straight
    from that series, without locating it first, where a retrieve of a missing object
    says so at no extra cost (DICOMweb: one GET per instance, a 404 for one that is not
    there); an object that does not come is then located as usual.
    ``hinted_singles``: with ``retrieve_hinted``, retrieve a hinted object alone too, not
    only in a UID list (DICOMweb: each instance is its own GET anyway).  DIMSE keeps it
    off: a request per object, unlocated, would lose the choice of the whole series where
    that is cheaper (:mod:`._build` weighs it with the series' size, which locating learns).
    ``list_studies``: find a study-hinted object by listing its study's series, all
    modalities, rather than by one search by SOP Instance UID in the study, where the
    listing is wanted anyway (dependents are searched series by series, and the
    whole-study comparison counts the study from it); with ``retrieve_hinted``, an object
    whose modality has one series there is then retrieved from it straight away.
    """

    retrieve: Preference = "auto"
    max_uids_per_request: int = 1000
    max_list_chars: int = 32 * 1024
    search_patient_studies: bool = True
    series_fallback: bool = True
    series_fallback_limit: int | None = None
    whole_series_when_complete: bool = True
    series_when_cheaper: bool = True
    sequence_return_keys: bool = True
    retrieve_early: bool = False
    retrieve_hinted: bool = False
    hinted_singles: bool = True
    list_studies: bool = False

    def methods(self, capabilities: Capabilities) -> tuple[Method, ...]:
        """Retrieve services to try, best first, leaving out those measured not to work."""
        get_first = capabilities.c_get is True or (
            capabilities.c_get is None and capabilities.c_move is not True
        )
        if self.retrieve == "move":
            order = (Method.MOVE, Method.GET)
        elif self.retrieve == "get" or get_first:
            order = (Method.GET, Method.MOVE)
        else:
            order = (Method.MOVE, Method.GET)
        return tuple(m for m in order if capabilities.retrieves(m))

    def list_size(self, capabilities: Capabilities) -> int:
        """The most UIDs one list may hold."""
        limit = capabilities.max_uid_list
        if limit is None:
            return self.max_uids_per_request
        return max(1, min(limit, self.max_uids_per_request))
