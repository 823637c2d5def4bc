"""``probe``: what a query/retrieve server really does, measured with real requests.

Negotiation proves nothing (no server grants relational queries, yet some answer them), so
each capability is the outcome of a request: C-ECHO; Study and Patient Root C-FIND; an
instance found by the probe itself (STUDY → SERIES → IMAGE, in the smallest series); IMAGE
C-FIND by SOP Instance UID with the parent keys absent and zero-length; UID lists (the real
UID and a made-up one) in C-FIND, C-GET and C-MOVE; SERIES C-FIND without the study;
C-GET and C-MOVE to us; retrieves without the parent keys (what arrives is compared: "success,
0 sub-operations" is a no); reference sequences asked back as C-FIND return keys; whether
a SERIES answer repeats rows.  Only standard keys are sent.

Each test's :class:`~dicomref.errors.RemoteError` is caught and recorded with its status:
one failing test does not stop the probe.  Only a first C-ECHO that gets no association at
all (nothing listening, rejected, no answer) aborts it, with that error.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dicomref._dicomweb._node import WebNode
from dicomref._dimse._node import Node
from dicomref.errors import AssociationError, RemoteError, RemoteTimeoutError, UsageError
from dicomref.remote.probing._report import ProbeReport, ProbeResult, capabilities_from
from dicomref.remote.probing._support import Measured, from_error, made_up_uid, reason

if TYPE_CHECKING:  # the DIMSE probe's modules import pynetdicom: loaded by a DIMSE probe only
    from dicomref.remote.probing._session import Session

LOGGER = logging.getLogger(__name__)

Check = Callable[["Session"], Measured]


def _tests(node: Node) -> tuple[tuple[str, str, Check], ...]:
    """(name, what is sent, test) in the order they run: later tests use what earlier ones
    found (the instance) or measured (whether C-GET/C-MOVE work at all)."""
    from dicomref.remote.probing import _queries as queries
    from dicomref.remote.probing import _retrieves as retrieves

    to_us = (
        f"{node.our_ae} at port {node.store_port}"
        if node.store_port is not None
        else f"{node.our_ae} (no store port given)"
    )
    return (
        ("echo", "C-ECHO", queries.check_echo),
        ("study_root", "Study Root C-FIND, STUDY level, universal", queries.check_study_root),
        ("series_listing", "SERIES C-FIND in each study", queries.check_series_listing),
        ("image_level", "IMAGE C-FIND in the smallest series", queries.check_image_level),
        (
            "duplicate_series_rows",
            "a series repeated in a SERIES answer",
            queries.check_duplicate_series_rows,
        ),
        ("patient_root", "Patient Root C-FIND, PATIENT level", queries.check_patient_root),
        (
            "image_query_without_parents",
            "IMAGE C-FIND by SOP UID, Study/Series absent",
            queries.check_image_query_without_parents,
        ),
        (
            "image_query_with_empty_parents",
            "IMAGE C-FIND by SOP UID, Study/Series zero-length",
            queries.check_image_query_with_empty_parents,
        ),
        (
            "uid_list_find",
            "IMAGE C-FIND, list of 2 SOP UIDs (one made up)",
            queries.check_uid_list_find,
        ),
        (
            "series_query_without_study",
            "SERIES C-FIND by Series UID, Study zero-length",
            queries.check_series_query_without_study,
        ),
        ("c_get", "C-GET of one instance, hierarchical", retrieves.check_c_get),
        (
            "c_move",
            f"C-MOVE of one instance to {to_us}",
            retrieves.check_c_move,
        ),
        (
            "uid_list_get",
            "C-GET, list of 2 SOP UIDs (one made up)",
            retrieves.check_uid_list_get,
        ),
        (
            "uid_list_move",
            "C-MOVE, list of 2 SOP UIDs (one made up)",
            retrieves.check_uid_list_move,
        ),
        (
            "get_without_parents",
            "C-GET by SOP UID, Study/Series absent",
            retrieves.check_get_without_parents,
        ),
        (
            "move_without_parents",
            "C-MOVE by SOP UID, Study/Series absent",
            retrieves.check_move_without_parents,
        ),
        (
            "sequence_return_keys",
            "IMAGE C-FIND asking reference sequences back",
            retrieves.check_sequence_return_keys,
        ),
        ("max_uid_list", "the longest UID list accepted", queries.check_max_uid_list),
    )


def probe(node: Node | WebNode, *, store_port: int | None = None) -> ProbeReport:
    """Measure what ``node`` supports; ``store_port`` (default ``node.store_port``) is where
    our storage SCP receives the C-MOVE tests' objects (the server must know ``our_ae``
    there, or C-MOVE measures "no" and the report says what to configure).

    A DICOMweb node is probed by :func:`~dicomref.remote.probing._web.probe_web`
    (QIDO-RS / WADO-RS; no store port).

    Raises :class:`~dicomref.errors.AssociationError` or
    :class:`~dicomref.errors.RemoteTimeoutError` when the first request gets no association.
    """
    if isinstance(node, WebNode):
        if store_port is not None:
            raise UsageError(f"{node} is a DICOMweb server: a store port applies to DIMSE only")
        from dicomref.remote.probing._web import probe_web

        return probe_web(node)
    if store_port is not None:
        node = dataclasses.replace(node, store_port=store_port)
    measured_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    results: list[ProbeResult] = []
    from dicomref.remote.probing._session import Session
    from dicomref.remote.transport._dimse_client import DimseClient

    with DimseClient(node) as client:
        session = Session(client=client, node=node, fake_uid=made_up_uid())
        for name, request, check in _tests(node):
            began = time.monotonic()
            try:
                measured = check(session)
            except (AssociationError, RemoteTimeoutError) as exc:
                if not results:  # the very first request: nobody to probe
                    raise type(exc)(exc.node, f"cannot probe: {reason(exc)}") from exc
                measured = from_error(exc)
            except RemoteError as exc:
                measured = from_error(exc)
            session.outcomes[name] = measured.outcome
            seconds = round(time.monotonic() - began, 3)
            LOGGER.info("%s: %s: %s (%s)", node, name, measured.outcome, measured.detail)
            results.append(
                ProbeResult(
                    name, request, measured.outcome, measured.detail, measured.status, seconds
                )
            )
    frozen = tuple(results)
    return ProbeReport(
        node=str(node),
        capabilities=capabilities_from(frozen, measured_at),
        results=frozen,
        instance=session.instance,
        sequence_instance=session.sequence_instance,
        measured_at=measured_at,
        seconds=round(time.monotonic() - started, 3),
    )
