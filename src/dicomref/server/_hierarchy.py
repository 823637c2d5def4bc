"""Which identifiers the server serves: everything sensible, or (strict mode) only what a
strictly hierarchical PACS serves.

Lenient (the default): relational queries are answered whether or not they were
negotiated; parent keys may be absent, zero-length, lists or wildcards.  A retrieve must
still be bounded: some unique key (PatientID, StudyInstanceUID, SeriesInstanceUID,
SOPInstanceUID) at or above its level with a value — a C-MOVE of "every study" is
refused, one of "every series of this study" is served.

Strict mirrors DCMTK's ``dcmqrscp -XF -XM`` (3.6.7), as measured side by side in
``tests/test_serve_interop.py``; every refusal is status 0xA900:

C-FIND
    - each level above the query level holds its unique key only, with a value (a list or
      a wildcard is accepted, a zero-length one is not);
    - the query level holds at least one key of its own;
    - no key of a level below the query level;
    - Study Root: patient-level keys only in a STUDY-level query.
C-MOVE / C-GET
    - each level from the top to the retrieve level holds exactly its unique key, with a
      value (lists allowed at every level), and nothing else;
    - Study Root: no patient-level key at all.

Keys the key table does not know are ignored here, as dcmqrscp ignores keys it does not
index.
"""

from __future__ import annotations

from dicomref._dimse._levels import Level, Root
from dicomref.server._identifier import Refusal, Request, Term
from dicomref.server._keys import DEPTH, LEVELS, UNIQUE
from dicomref.server._statuses import IDENTIFIER_DOES_NOT_MATCH


def check(request: Request, *, strict: bool) -> Refusal | None:
    """None when the request is served; else the refusal."""
    if request.command == "C-FIND":
        return _strict_find(request) if strict else None
    if strict:
        return _strict_retrieve(request)
    return _named(request)


def _refuse(reason: str) -> Refusal:
    return Refusal(IDENTIFIER_DOES_NOT_MATCH, reason)


def _describe(term: Term) -> str:
    return f"{term.key.keyword} ({term.key.level.value})"


def _named(request: Request) -> Refusal | None:
    for term in request.terms:
        if term.key.unique and not term.universal and DEPTH[term.key.level] <= request.depth:
            return None
    return _refuse("name what to retrieve: a unique key with a value")


def _strict_find(request: Request) -> Refusal | None:
    depth = request.depth
    study_root = request.root is Root.STUDY
    for term in request.terms:
        level = term.key.level
        if study_root and level is Level.PATIENT:
            if request.level is not Level.STUDY:
                return _refuse(f"{_describe(term)} below STUDY level in Study Root")
            continue
        if DEPTH[level] > depth:
            return _refuse(f"{_describe(term)} is below the query level")
        if DEPTH[level] < depth:
            if not term.key.unique:
                return _refuse(f"{_describe(term)}: only unique keys above the level")
            if term.universal:
                return _refuse(f"{term.key.keyword} above the query level needs a value")
    for level in LEVELS[request.root]:
        if DEPTH[level] >= depth:
            break
        if request.term(UNIQUE[level].keyword) is None:
            return _refuse(f"{request.level.value} query needs {UNIQUE[level].keyword}")
    if not any(t.key.level is request.level for t in request.terms):
        return _refuse(f"no key of the {request.level.value} level")
    return None


def _strict_retrieve(request: Request) -> Refusal | None:
    depth = request.depth
    for term in request.terms:
        level = term.key.level
        if request.root is Root.STUDY and level is Level.PATIENT:
            return _refuse(f"{_describe(term)} in a Study Root retrieve")
        if DEPTH[level] > depth:
            return _refuse(f"{_describe(term)} is below the retrieve level")
        if not term.key.unique:
            return _refuse(f"{_describe(term)}: a retrieve takes unique keys only")
        if term.universal:
            return _refuse(f"{term.key.keyword} is zero-length: a retrieve needs values")
    for level in LEVELS[request.root]:
        if DEPTH[level] > depth:
            break
        if request.term(UNIQUE[level].keyword) is None:
            return _refuse(f"{request.level.value} retrieve needs {UNIQUE[level].keyword}")
    return None
