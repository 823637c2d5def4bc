"""The dicomref command line."""

from __future__ import annotations


def main() -> None:
    raise SystemExit("dicomref: the command line is not built yet")
