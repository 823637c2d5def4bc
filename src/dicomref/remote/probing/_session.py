"""What the probe's tests share while they run: the client, the made-up UID, what was
found so far and what each test measured."""

from __future__ import annotations

from dataclasses import dataclass, field

from dicomref._dimse._node import Node
from dicomref.remote.probing._discover import Series, Study
from dicomref.remote.probing._report import Outcome, ProbeInstance
from dicomref.remote.probing._support import Keeper
from dicomref.remote.transport._dimse_client import DimseClient


@dataclass(slots=True)
class Session:
    """Mutable state of one probe (private to it; the report is the frozen result)."""

    client: DimseClient
    node: Node
    fake_uid: str
    keeper: Keeper = field(default_factory=Keeper)
    studies: list[Study] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    instance: ProbeInstance | None = None
    sibling: ProbeInstance | None = None
    """Another instance of the probed instance's series, when it holds two or more."""
    sequence_instance: ProbeInstance | None = None
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def works(self, name: str) -> bool:
        """Whether test ``name`` ran and measured "yes"."""
        return self.outcomes.get(name) is Outcome.YES

    @property
    def patient_id(self) -> str | None:
        """The Patient ID of the probed instance's study (sent, never logged)."""
        if self.instance is None:
            return None
        return next((s.patient_id for s in self.studies if s.uid == self.instance.study), None)
