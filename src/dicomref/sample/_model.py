"""What :func:`~dicomref.sample.generate_sample` returns: the files it wrote and their roles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROLE_CT = "ct"
ROLE_STRUCTURE_SET = "structure_set"
ROLE_PLAN = "plan"
ROLE_DOSE = "dose"
ROLE_SEG = "seg"
ROLE_KOS = "kos"
ROLE_SECOND_STUDY_CT = "second_study_ct"
ROLE_SECOND_STUDY_STRUCTURE_SET = "second_study_structure_set"

ROLES: tuple[str, ...] = (
    ROLE_CT,
    ROLE_STRUCTURE_SET,
    ROLE_PLAN,
    ROLE_DOSE,
    ROLE_SEG,
    ROLE_KOS,
    ROLE_SECOND_STUDY_CT,
    ROLE_SECOND_STUDY_STRUCTURE_SET,
)
"""Every role, in the order the objects appear in :attr:`Sample.objects`."""


@dataclass(frozen=True, slots=True)
class SampleObject:
    """One file of a generated sample.

    ``role`` says what the object is for (one of ``ct``, ``structure_set``, ``plan``,
    ``dose``, ``seg``, ``kos``, ``second_study_ct``, ``second_study_structure_set``);
    ``path`` is the file; the other fields are the object's SOP Class UID, SOP Instance
    UID, Study Instance UID, Series Instance UID and Modality as written in it.
    """

    role: str
    path: Path
    sop_class: str
    sop_instance: str
    study: str
    series: str
    modality: str


@dataclass(frozen=True, slots=True)
class Sample:
    """A generated patient: two studies, every object's file and how they reference each other.

    Study 1 (``study_uids[0]``) holds the planning CT (:attr:`ct`), one RTSTRUCT series
    with two structure sets (:attr:`structure_sets`), two plans each in its own RTPLAN
    series (:attr:`plans`), one dose (:attr:`dose`), a segmentation (:attr:`seg`) and a
    key object selection (:attr:`kos`).  The references:

    - every contour of both structure sets names the CT slice it lies on;
    - ``plans[0]`` references ``structure_sets[0]`` and ``plans[1]`` references
      ``structure_sets[1]``;
    - the dose references ``plans[0]`` and ``structure_sets[0]``;
    - the segmentation references a few CT slices (those through the target);
    - the key object selection references two CT slices and ``plans[0]``.

    Study 2 (``study_uids[1]``, weeks later) holds a short CT with its own frame of
    reference (role ``second_study_ct``) and a structure set on it (role
    ``second_study_structure_set``).  Nothing in study 1 references study 2.

    ``root`` is the folder given to :func:`~dicomref.sample.generate_sample` (as
    given, not resolved); every path in ``objects`` lies under it.
    """

    patient_id: str
    patient_name: str
    root: Path
    objects: tuple[SampleObject, ...]

    def by_role(self, role: str) -> tuple[SampleObject, ...]:
        """Return the objects of ``role`` in the order they were generated.

        CT slices come in instance-number order, which is also ascending z.
        An unknown role gives an empty tuple.
        """
        return tuple(obj for obj in self.objects if obj.role == role)

    def _one(self, role: str) -> SampleObject:
        (obj,) = self.by_role(role)
        return obj

    @property
    def ct(self) -> tuple[SampleObject, ...]:
        """The slices of study 1's CT series, in instance-number (ascending z) order."""
        return self.by_role(ROLE_CT)

    @property
    def structure_sets(self) -> tuple[SampleObject, ...]:
        """Study 1's two structure sets (one RTSTRUCT series); plan ``i`` uses set ``i``."""
        return self.by_role(ROLE_STRUCTURE_SET)

    @property
    def plans(self) -> tuple[SampleObject, ...]:
        """Study 1's two plans: ``plans[i]`` references ``structure_sets[i]``."""
        return self.by_role(ROLE_PLAN)

    @property
    def dose(self) -> SampleObject:
        """The dose, which references ``plans[0]`` and ``structure_sets[0]``."""
        return self._one(ROLE_DOSE)

    @property
    def seg(self) -> SampleObject:
        """The segmentation, which references a few slices of :attr:`ct`."""
        return self._one(ROLE_SEG)

    @property
    def kos(self) -> SampleObject:
        """The key object selection, which references two slices of :attr:`ct` and ``plans[0]``."""
        return self._one(ROLE_KOS)

    @property
    def paths(self) -> tuple[Path, ...]:
        """Every file of the sample, in the order of :attr:`objects`."""
        return tuple(obj.path for obj in self.objects)

    @property
    def study_uids(self) -> tuple[str, ...]:
        """The Study Instance UIDs: study 1 (planning) first, then study 2."""
        return tuple(dict.fromkeys(obj.study for obj in self.objects))
