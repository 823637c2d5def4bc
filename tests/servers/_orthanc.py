"""Orthanc (Debian package ``orthanc``, 1.10) as a test server.

Orthanc 1.10 listens on every interface for both DICOM and HTTP and has no option to bind
to loopback, so it is started only inside a private network namespace.  The configuration
is one JSON file of our own: the package's /etc/orthanc (and its plugins) is never read.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ._base import DcmtkNetworkMixin, DicomServer
from ._errors import ServerLoadError
from ._ports import LOOPBACK, Peer, free_port, port_open

HTTP_TIMEOUT = 10.0


class OrthancServer(DcmtkNetworkMixin, DicomServer):
    """Orthanc on free DICOM and HTTP ports of 127.0.0.1, storage and index in ``workdir``.

    ``peers`` become ``DicomModalities`` (C-MOVE destinations).  ``check_called_aet``
    makes Orthanc reject associations not addressed to its AE title.  Every DICOM command
    is allowed from any calling AE.  ``config`` entries override the generated ones.
    ``tcp_nodelay``: see :class:`DcmtkNetworkMixin`.
    """

    NAME: ClassVar[str] = "Orthanc"
    PROGRAM: ClassVar[str] = "/usr/sbin/Orthanc"
    DEBIAN_PACKAGE: ClassVar[str | None] = "orthanc"
    LISTENS_ON_ALL_INTERFACES: ClassVar[bool] = True

    def __init__(
        self,
        workdir: Path,
        *,
        ae: str = "ORTHANC",
        peers: Sequence[Peer] = (),
        check_called_aet: bool = False,
        config: Mapping[str, Any] | None = None,
        tcp_nodelay: bool = True,
    ) -> None:
        super().__init__(workdir, ae=ae, peers=peers)
        self.tcp_nodelay = tcp_nodelay
        self.http_port = free_port()
        while self.http_port == self.port:
            self.http_port = free_port()
        self.check_called_aet = check_called_aet
        self.extra_config = dict(config or {})
        self.config_path = workdir / "orthanc.json"

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    def configuration(self) -> dict[str, Any]:
        storage = str(self.workdir / "storage")
        config: dict[str, Any] = {
            "Name": f"dicomref-test-{self.port}",
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "Plugins": [],
            "LuaScripts": [],
            "HttpServerEnabled": True,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "RegisteredUsers": {},
            "WebDavEnabled": False,
            "DicomServerEnabled": True,
            "DicomAet": self.ae,
            "DicomPort": self.port,
            "DicomCheckCalledAet": self.check_called_aet,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowMove": True,
            "DicomCheckModalityHost": False,
            "DicomModalities": {p.ae: [p.ae, p.host, p.port] for p in self.peers},
            "DicomModalitiesInDatabase": False,
            "OrthancPeers": {},
            "SaveJobs": False,
            "StorageCompression": False,
            "MetricsEnabled": False,
        }
        config.update(self.extra_config)
        return config

    def _prepare(self) -> None:
        (self.workdir / "storage").mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.configuration(), indent=2))

    def _argv(self) -> list[str]:
        return [self.PROGRAM, str(self.config_path)]

    def _environment(self) -> dict[str, str]:
        return self._dcmtk_environment(super()._environment())

    def _ready(self) -> bool:
        if not port_open(LOOPBACK, self.port):
            return False
        try:
            self.rest("/system")
        except (OSError, ValueError):
            return False
        return True

    # -- REST ----------------------------------------------------------------------------

    def rest(self, path: str, data: bytes | None = None, content_type: str = "") -> Any:
        """GET (or POST ``data`` to) ``path`` of the REST API; the decoded JSON answer."""
        request = urllib.request.Request(self.base_url + path, data=data)
        if content_type:
            request.add_header("Content-Type", content_type)
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return json.loads(response.read() or b"null")

    def upload(self, paths: Iterable[Path]) -> list[str]:
        """Store files through REST ``POST /instances``; Orthanc's instance IDs."""
        ids = []
        for path in paths:
            try:
                answer = self.rest("/instances", path.read_bytes(), "application/dicom")
            except urllib.error.HTTPError as exc:
                body = exc.read().decode(errors="replace")
                raise ServerLoadError(f"Orthanc refused {path}: {exc}: {body}") from exc
            ids.append(str(answer["ID"]))
        return ids

    def load(self, paths: Iterable[Path]) -> None:
        self.upload(paths)
