"""What a refused or fruitless request teaches about a server.

Measured facts beat a single failure, with two exceptions: a UID list that fails is
taken as "lists do not work here" (the same objects are then asked one by one, costing
round trips, never bytes), and a flat query that is refused is never counted as a
search of the whole server.  Unmeasured flags (``None``) are learnt from the first
failure.  Each function returns the corrected capabilities, or ``None`` when the failure
teaches nothing (the caller then records it as a fruitless search or attempt).
"""

from __future__ import annotations

from dicomref.remote._capabilities import Capabilities
from dicomref.remote._enums import Level, Method, ParentKeys
from dicomref.remote._steps import Find, Retrieve, ScopeKind


def learn_from_find(capabilities: Capabilities, find: Find) -> Capabilities | None:
    """Capabilities corrected by the refusal of ``find``, or ``None``."""
    kind = find.scope.kind
    if kind is ScopeKind.SERVER:
        if find.parents is ParentKeys.EMPTY:
            return capabilities.learned(image_query_with_empty_parents=False)
        return capabilities.learned(image_query_without_parents=False)
    if kind is ScopeKind.SERIES:
        if len(find.sop_uids) > 1 and capabilities.uid_list_find is True:
            return capabilities.learned(uid_list_find=False)
        if capabilities.image_level is None:
            return capabilities.learned(image_level=False)
        return None
    if kind is ScopeKind.SERIES_LOOKUP:
        return capabilities.learned(series_query_without_study=False)
    return None


def learn_from_retrieve(
    capabilities: Capabilities, retrieve: Retrieve, arrived: set[str], strikes: int
) -> Capabilities | None:
    """Capabilities corrected by an IMAGE-level ``retrieve`` that brought nothing, or ``None``.

    "Success, 0 sub-operations" to a retrieve without parents (default dcmqrscp) turns
    ``*_without_parents`` off; a list that brings nothing turns the method's lists off.
    An unmeasured method is taken as not working once it has brought nothing for
    ``strikes`` >= 2 distinct objects (one object may simply be unretrievable).
    SERIES-level retrieves teach nothing (the series may not hold what was hoped).
    """
    if arrived or retrieve.level is not Level.IMAGE:
        return None
    move = retrieve.method is Method.MOVE
    if retrieve.study is None and capabilities.retrieves_without_parents(retrieve.method):
        if move:
            return capabilities.learned(move_without_parents=False)
        return capabilities.learned(get_without_parents=False)
    if retrieve.listed and capabilities.lists(retrieve.method):
        return capabilities.learned(**{"uid_list_move" if move else "uid_list_get": False})
    flag = capabilities.c_move if move else capabilities.c_get
    if flag is None and strikes >= 2:
        return capabilities.learned(**{"c_move" if move else "c_get": False})
    return None
