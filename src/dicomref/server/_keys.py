"""The query keys the server knows: the level each belongs to and how it is matched.

The table follows PS3.4 C.6 (Patient Root and Study Root) and the keys DCMTK's dcmqrscp
knows, so that strict mode refuses the same identifiers.  A key the table does not hold
is returned zero-length and never fails a request; a key it holds but the catalog cannot
fill (no column for it) is matched by nothing and returned zero-length too — see
:data:`dicomref.server._select` for the keys that have columns.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from pydicom.datadict import tag_for_keyword

from dicomref._dimse._levels import Level, Root


class Match(enum.Enum):
    """How a key's value is matched (PS3.4 C.2.2.2)."""

    UID = "uid"  # single value or list of UIDs
    TEXT = "text"  # single value, wildcard (* ?), list; case-sensitive
    NAME = "name"  # as TEXT, case-insensitive (person names)
    DATE = "date"  # single value, range (A-B, -B, A-), list
    TIME = "time"  # as DATE, for times
    NUMBER = "number"  # single integer or list
    CODES = "codes"  # a study's set of values (ModalitiesInStudy): matches if any value does
    RETURN = "return"  # a return key only (counts, geometry): never matched


@dataclass(frozen=True, slots=True)
class Key:
    keyword: str
    level: Level
    match: Match
    unique: bool = False

    @property
    def tag(self) -> int:
        tag = tag_for_keyword(self.keyword)
        assert tag is not None, self.keyword
        return int(tag)


_P, _ST, _SE, _IM = Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE

_TABLE: Final = (
    Key("PatientID", _P, Match.TEXT, unique=True),
    Key("PatientName", _P, Match.NAME),
    Key("PatientBirthDate", _P, Match.DATE),
    Key("PatientBirthTime", _P, Match.TIME),
    Key("PatientSex", _P, Match.TEXT),
    Key("IssuerOfPatientID", _P, Match.TEXT),
    Key("OtherPatientIDs", _P, Match.TEXT),
    Key("OtherPatientNames", _P, Match.NAME),
    Key("EthnicGroup", _P, Match.TEXT),
    Key("PatientComments", _P, Match.TEXT),
    Key("NumberOfPatientRelatedStudies", _P, Match.RETURN),
    Key("NumberOfPatientRelatedSeries", _P, Match.RETURN),
    Key("NumberOfPatientRelatedInstances", _P, Match.RETURN),
    Key("StudyInstanceUID", _ST, Match.UID, unique=True),
    Key("StudyDate", _ST, Match.DATE),
    Key("StudyTime", _ST, Match.TIME),
    Key("StudyID", _ST, Match.TEXT),
    Key("AccessionNumber", _ST, Match.TEXT),
    Key("ReferringPhysicianName", _ST, Match.NAME),
    Key("StudyDescription", _ST, Match.TEXT),
    Key("NameOfPhysiciansReadingStudy", _ST, Match.NAME),
    Key("InstitutionName", _ST, Match.TEXT),
    Key("AdmittingDiagnosesDescription", _ST, Match.TEXT),
    Key("PatientAge", _ST, Match.TEXT),
    Key("PatientSize", _ST, Match.RETURN),
    Key("PatientWeight", _ST, Match.RETURN),
    Key("Occupation", _ST, Match.TEXT),
    Key("AdditionalPatientHistory", _ST, Match.TEXT),
    Key("OtherStudyNumbers", _ST, Match.RETURN),
    Key("ModalitiesInStudy", _ST, Match.CODES),
    Key("SOPClassesInStudy", _ST, Match.CODES),
    Key("NumberOfStudyRelatedSeries", _ST, Match.RETURN),
    Key("NumberOfStudyRelatedInstances", _ST, Match.RETURN),
    Key("SeriesInstanceUID", _SE, Match.UID, unique=True),
    Key("Modality", _SE, Match.TEXT),
    Key("SeriesNumber", _SE, Match.NUMBER),
    Key("SeriesDescription", _SE, Match.TEXT),
    Key("SeriesDate", _SE, Match.DATE),
    Key("SeriesTime", _SE, Match.TIME),
    Key("BodyPartExamined", _SE, Match.TEXT),
    Key("ProtocolName", _SE, Match.TEXT),
    Key("Laterality", _SE, Match.TEXT),
    Key("PerformedProcedureStepStartDate", _SE, Match.DATE),
    Key("PerformedProcedureStepStartTime", _SE, Match.TIME),
    Key("NumberOfSeriesRelatedInstances", _SE, Match.RETURN),
    Key("SOPInstanceUID", _IM, Match.UID, unique=True),
    Key("SOPClassUID", _IM, Match.UID),
    Key("InstanceNumber", _IM, Match.NUMBER),
    Key("NumberOfFrames", _IM, Match.NUMBER),
    Key("FrameOfReferenceUID", _IM, Match.UID),
    Key("AvailableTransferSyntaxUID", _IM, Match.UID),
    Key("ContentDate", _IM, Match.DATE),
    Key("ContentTime", _IM, Match.TIME),
    Key("AcquisitionNumber", _IM, Match.NUMBER),
    Key("ImagePositionPatient", _IM, Match.RETURN),
    Key("ImageOrientationPatient", _IM, Match.RETURN),
)

KEYS: Final[dict[int, Key]] = {key.tag: key for key in _TABLE}
"""Every known key, by tag."""

UNIQUE: Final[dict[Level, Key]] = {key.level: key for key in _TABLE if key.unique}
"""The unique key of each level."""

#: Elements of an identifier that are no key of any level.
NEUTRAL: Final[frozenset[int]] = frozenset(
    int(tag_for_keyword(k) or 0)
    for k in (
        "QueryRetrieveLevel",
        "SpecificCharacterSet",
        "RetrieveAETitle",
        "InstanceAvailability",
        "TimezoneOffsetFromUTC",
        "QueryRetrieveView",
    )
)

LEVELS: Final[dict[Root, tuple[Level, ...]]] = {
    Root.PATIENT: (Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE),
    Root.STUDY: (Level.STUDY, Level.SERIES, Level.IMAGE),
}
"""The levels of each information model, top first."""

DEPTH: Final[dict[Level, int]] = {
    Level.PATIENT: 0,
    Level.STUDY: 1,
    Level.SERIES: 2,
    Level.IMAGE: 3,
}
