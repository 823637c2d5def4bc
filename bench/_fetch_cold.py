"""The subset case of bench/fetch.py, timed as a user meets it: ``dicomref fetch`` as a process.

The patient (:func:`make_subset`): the sample's planning study with a CT of 120 slices of
512 x 512, whose structure set 0 has its contours on the middle 60 slices only while its
RTReferencedSeriesSequence lists all 120 (as planning systems write it).  The start is
plan 0 as a file; ``--with-dependents`` adds its dose; what is needed is structure set 0,
the 60 slices and the dose (:attr:`Subset.exact`).

Contenders, each timed from process start to exit (or, for the naive way, from request to
the last object written), run in turn:

- naive: one STUDY-level C-MOVE of the planning study (:mod:`_fetch_naive`);
- cold: ``dicomref fetch NODE plan.dcm --with-dependents`` with a new catalog and no
  probe: everything about the server is learnt on the way;
- warm: the same command on the catalog the cold run left (what it learnt, the costs it
  saw), its files removed first so that everything is fetched again.

Each dicomref run must leave exactly :attr:`Subset.exact` in its output folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pydicom

from dicomref.sample import generate_sample
from subset_case import middle, trim_structure_set

SLICES = 120
NAMED = 60
MATRIX = 512


@dataclass(frozen=True, slots=True)
class Subset:
    """The files to load, the start, and what a fetch of it must bring."""

    paths: tuple[Path, ...]
    plan: Path
    study: str
    exact: frozenset[str]
    exact_bytes: int
    study_objects: int
    study_bytes: int


def make_subset(folder: Path) -> Subset:
    """Write the subset patient under ``folder``."""
    sample = generate_sample(folder, slices=SLICES, rows=MATRIX, columns=MATRIX, seed=2)
    structure_set = sample.structure_sets[0]
    named = trim_structure_set(structure_set.path, middle(sample.ct, NAMED))
    exact = named | {structure_set.sop_instance, sample.dose.sop_instance}
    plan = sample.plans[0]
    study = [o.path for o in sample.objects if o.study == plan.study]
    return Subset(
        paths=tuple(o.path for o in sample.objects),
        plan=plan.path,
        study=plan.study,
        exact=frozenset(exact),
        exact_bytes=sum(o.path.stat().st_size for o in sample.objects if o.sop_instance in exact),
        study_objects=len(study),
        study_bytes=sum(p.stat().st_size for p in study),
    )


@dataclass(frozen=True, slots=True)
class ProcessRun:
    """One ``dicomref fetch`` process: its time, what it sent, what it left."""

    seconds: float
    retrieves: int
    finds: int
    objects: int
    bytes: int
    discarded: int
    steps: tuple[str, ...]


def compile_dicomref() -> int:
    """Compile dicomref's modules to bytecode, as an installed package has them; how many
    files were written.  An editable install has none, and where PYTHONDONTWRITEBYTECODE is
    set (as on the machine this was written on) every process compiles ~90 modules again,
    ~0.1-0.2 s that no user pays."""
    import compileall

    import dicomref

    before = len(list(Path(dicomref.__file__).parent.rglob("*.pyc")))
    compileall.compile_dir(Path(dicomref.__file__).parent, quiet=1)
    return len(list(Path(dicomref.__file__).parent.rglob("*.pyc"))) - before


def fetch_process(
    node: str, store_port: int, start: Path, out: Path, catalog: Path, exact: frozenset[str]
) -> ProcessRun:
    """Run ``dicomref fetch NODE start --with-dependents`` into ``out``; check what it left."""
    command = [sys.executable, "-m", "dicomref", "fetch", node, str(start), "--with-dependents"]
    command += ["--out", str(out), "--db", f"sqlite:///{catalog}"]
    command += ["--store-port", str(store_port), "--json"]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise AssertionError(f"dicomref fetch exited {done.returncode}: {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    held = held_uids(out)
    if held != exact:
        raise AssertionError(
            f"dicomref fetch left {len(held)} objects: {len(held - exact)} not needed, "
            f"{len(exact - held)} needed ones missing"
        )
    requests = report["requests"]
    return ProcessRun(
        seconds=seconds,
        retrieves=requests["C-MOVE"] + requests["C-GET"],
        finds=requests["C-FIND"],
        objects=report["objects"],
        bytes=report["bytes"],
        discarded=report["discarded"]["objects"],
        steps=tuple(report["steps"]),
    )


def held_uids(root: Path) -> frozenset[str]:
    """The SOP Instance UIDs of the files in a store (hidden folders skipped)."""
    uids = set()
    for path in root.rglob("*.dcm"):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        uids.add(str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID))
    return frozenset(uids)


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
