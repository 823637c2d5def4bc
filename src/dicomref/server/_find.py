"""C-FIND: the handler that reads the request, checks it and yields the answers.

Failure statuses: 0xA900 when the identifier is refused (:mod:`._hierarchy`) or cannot
be decoded, 0xC000 when the catalog cannot be read; a C-CANCEL ends the answers with
0xFE00.  Each query is logged at INFO with its level, model, number of matches and time
(never the values of its keys: they may name a patient).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from pydicom.dataset import Dataset

from dicomref.catalog import Catalog
from dicomref.errors import CatalogError
from dicomref.server._answers import answers
from dicomref.server._events import peer, read_request, status
from dicomref.server._identifier import Refusal
from dicomref.server._statuses import CANCEL, PENDING, SUCCESS, UNABLE_TO_PROCESS

LOGGER = logging.getLogger(__name__)

Response = tuple[int | Dataset, Dataset | None]


class FindService:
    """The C-FIND handler over one catalog."""

    def __init__(self, catalog: Catalog, ae_title: str, *, strict: bool) -> None:
        self.catalog = catalog
        self.ae_title = ae_title
        self.strict = strict

    def on_find(self, event: Any) -> Iterator[Response]:
        started = time.perf_counter()
        request = read_request(event, "C-FIND", strict=self.strict)
        if isinstance(request, Refusal):
            LOGGER.info(
                "C-FIND from %s refused with 0x%04X: %s",
                peer(event),
                request.status,
                request.reason,
            )
            yield status(request.status, request.reason), None
            return
        what = f"C-FIND {request.level.value} ({request.root.value} root) from {peer(event)}"
        count = 0
        try:
            for answer in answers(self.catalog, request, self.ae_title):
                if event.is_cancelled:
                    LOGGER.info("%s cancelled after %d matches", what, count)
                    yield CANCEL, None
                    return
                count += 1
                yield PENDING, answer
        except CatalogError as exc:
            LOGGER.error("%s: cannot read the catalog: %s", what, exc)
            yield status(UNABLE_TO_PROCESS, "the catalog cannot be read"), None
            return
        LOGGER.info("%s: %d matches in %.1f ms", what, count, (time.perf_counter() - started) * 1e3)
        yield SUCCESS, None
