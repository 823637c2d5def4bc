"""Test helpers for the DICOMweb client: a receiver that keeps what arrives, and Orthanc
asking for basic authentication (its own REST calls authenticate)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydicom.dataset import Dataset

from servers import OrthancServer


@dataclass
class Kept:
    """A receiver that keeps what arrives, by SOP Instance UID (thread-safe)."""

    files: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def store_file(self, dataset: Dataset, data: bytes) -> None:
        with self.lock:
            self.files[str(dataset.SOPInstanceUID)] = data


class GuardedOrthanc(OrthancServer):
    """Orthanc with its DICOMweb plugin that asks for basic authentication (:attr:`USER`)."""

    USER = ("alice", "right-password")

    def __init__(self, workdir: Path) -> None:
        user, password = self.USER
        config = {"AuthenticationEnabled": True, "RegisteredUsers": {user: password}}
        super().__init__(workdir, dicomweb=True, config=config)

    def rest(self, path: str, data: bytes | None = None, content_type: str = "") -> Any:
        headers = {"Content-Type": content_type} if content_type else {}
        answer = httpx.request(
            "POST" if data is not None else "GET",
            self.base_url + path,
            content=data,
            headers=headers,
            auth=self.USER,
            timeout=10,
        )
        answer.raise_for_status()
        return answer.json()
