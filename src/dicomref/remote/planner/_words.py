"""The words a protocol names its requests by, for the lines a person reads.

The planner writes steps in the neutral words of query/retrieve (a find at a level, a
retrieve of listed instances); the reasons it gives ("why" lines, what is missing and why)
name the requests as the server's protocol calls them.  :data:`DIMSE` says C-FIND, C-GET,
association; :data:`DICOMWEB` says QIDO-RS, WADO-RS, connection.  A fetch of a DICOMweb
node plans with ``State.words`` set to :data:`DICOMWEB`; nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from dicomref.remote.planner._enums import Method


@dataclass(frozen=True, slots=True)
class Words:
    """A protocol's vocabulary.

    ``find``: a search ("C-FIND", "QIDO-RS"); ``get`` / ``move``: the retrieves;
    ``image_find``: a search for instances, with its article; ``image_level``: the
    adjective for instance-level requests; ``connection``: what requests are sent over;
    ``list_retrieve``: a retrieve of listed instances is one request (DIMSE: a UID list)
    rather than one request per instance (WADO-RS); ``protocol``: its name.
    """

    protocol: str
    find: str
    get: str
    move: str
    image_find: str
    image_level: str
    connection: str
    list_retrieve: bool

    def retrieve(self, method: Method) -> str:
        """The request a retrieve by ``method`` is."""
        return self.move if method is Method.MOVE else self.get

    def retrieves(self) -> str:
        """Every retrieve this protocol has, e.g. "C-MOVE nor C-GET" after "neither"."""
        return self.get if self.move == self.get else f"{self.move} nor {self.get}"


DIMSE = Words(
    protocol="DIMSE",
    find="C-FIND",
    get="C-GET",
    move="C-MOVE",
    image_find="an IMAGE C-FIND",
    image_level="IMAGE-level",
    connection="association",
    list_retrieve=True,
)

DICOMWEB = Words(
    protocol="DICOMweb",
    find="QIDO-RS",
    get="WADO-RS",
    move="WADO-RS",  # no C-MOVE in DICOMweb: every retrieve is a GET on our connection
    image_find="a QIDO-RS instance search",
    image_level="instance-level",
    connection="connection",
    list_retrieve=False,
)
