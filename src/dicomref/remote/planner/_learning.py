"""What a refused, fruitless or successful request teaches about a server.

Measured facts beat a single failure, with two exceptions: a UID list that fails is
taken as "lists do not work here" (the same objects are then asked one by one, costing
round trips, never bytes), and a flat query that is refused is never counted as a
search of the whole server.  Unmeasured flags (``None``) are learnt from the first
failure, and from the first success (:func:`learn_from_rows`, :func:`learn_from_arrival`):
a list is tried while its flag is unmeasured, because a refusal costs one request.
Each function returns the corrected capabilities, or ``None`` when the request teaches
nothing (the caller then records a failure as a fruitless search or attempt).
"""

from __future__ import annotations

from dicomref.remote.planner._capabilities import Capabilities
from dicomref.remote.planner._enums import Level, Method, ParentKeys
from dicomref.remote.planner._steps import Find, Retrieve, ScopeKind


def learn_from_find(capabilities: Capabilities, find: Find) -> Capabilities | None:
    """Capabilities corrected by the refusal of ``find``, or ``None``."""
    kind = find.scope.kind
    if kind is ScopeKind.SERVER:
        if find.parents is ParentKeys.EMPTY:
            return capabilities.learned(image_query_with_empty_parents=False)
        return capabilities.learned(image_query_without_parents=False)
    if kind is ScopeKind.SERIES:
        if len(find.sop_uids) > 1 and capabilities.uid_list_find is not False:
            return capabilities.learned(uid_list_find=False)
        if capabilities.image_level is None:
            return capabilities.learned(image_level=False)
        return None
    if kind is ScopeKind.SERIES_LOOKUP:
        return capabilities.learned(series_query_without_study=False)
    if kind is ScopeKind.STUDY_IMAGES:
        return capabilities.learned(study_image_query=False)
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
    if retrieve.listed and capabilities.may_list(retrieve.method):
        return capabilities.learned(**{capabilities.list_flag(retrieve.method): False})
    flag = capabilities.c_move if move else capabilities.c_get
    if flag is None and strikes >= 2:
        return capabilities.learned(**{"c_move" if move else "c_get": False})
    return None


def learn_from_rows(capabilities: Capabilities, find: Find, rows: int) -> Capabilities | None:
    """Capabilities learnt from the ``rows`` matches of ``find``, or ``None``.

    A UID-list C-FIND in a series, with lists unmeasured: matches mean lists work; no
    match at all is taken as "lists do not work" (a server that ignores or mishandles the
    list looks the same as one without the objects: the series is then listed instead,
    which tells the truth for one more request).  An IMAGE-level answer with matches
    shows the level works.
    """
    changes: dict[str, bool] = {}
    listed = find.scope.kind is ScopeKind.SERIES and len(find.sop_uids) > 1
    if listed and capabilities.uid_list_find is None:
        changes["uid_list_find"] = rows > 0
    if find.level is Level.IMAGE and rows and capabilities.image_level is None:
        changes["image_level"] = True
    return capabilities.learned(**changes) if changes else None


def learn_from_arrival(
    capabilities: Capabilities, retrieve: Retrieve, arrived: set[str]
) -> Capabilities | None:
    """Capabilities learnt from a retrieve that brought ``arrived`` (not empty), or ``None``.

    The method works; an IMAGE-level retrieve without parents works; a UID list works
    when two or more of its objects came, or one that is not the list's first (a server
    that reads the first value only sends that one).  The first alone teaches nothing:
    the others may simply be absent, and a wrong "no" would be kept for the server.
    """
    move = retrieve.method is Method.MOVE
    changes: dict[str, bool] = {}
    method_flag = "c_move" if move else "c_get"
    if getattr(capabilities, method_flag) is None:
        changes[method_flag] = True
    if retrieve.level is Level.IMAGE and retrieve.study is None:
        parents_flag = "move_without_parents" if move else "get_without_parents"
        if getattr(capabilities, parents_flag) is None:
            changes[parents_flag] = True
    if retrieve.listed:
        flag = capabilities.list_flag(retrieve.method)
        came = arrived & set(retrieve.sop_uids)
        if getattr(capabilities, flag) is None and (came - {retrieve.sop_uids[0]}):
            changes[flag] = True
    return capabilities.learned(**changes) if changes else None
