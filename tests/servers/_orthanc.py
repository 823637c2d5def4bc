"""Orthanc (Debian package ``orthanc``, 1.10) as a test server.

Orthanc 1.10 listens on every interface for both DICOM and HTTP and has no option to bind
to loopback, so it is started only inside a private network namespace.  The configuration
is one JSON file of our own: the package's /etc/orthanc (and its plugins) is never read.

``dicomweb=True`` loads one plugin, and only that one: the DICOMweb plugin of the Debian
package ``orthanc-dicomweb`` (1.7 on Debian 12), serving QIDO/WADO/STOW-RS under
:attr:`OrthancServer.dicomweb_url`.  ``dicomweb_servers`` names remote DICOMweb servers the
plugin can query, retrieve from and send to (its ``/dicom-web/servers/NAME/...`` routes).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

from ._base import DcmtkNetworkMixin, DicomServer
from ._errors import ServerLoadError, ServerUnavailableError
from ._ports import LOOPBACK, Peer, free_port, port_open

HTTP_TIMEOUT = 10.0

DICOMWEB_PLUGIN_PATHS = (
    Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so"),
    Path("/usr/lib/orthanc/libOrthancDicomWeb.so.1.7"),
)
"""Where Debian's ``orthanc-dicomweb`` puts the plugin (the first one found is loaded)."""
DICOMWEB_DEBIAN_PACKAGE = "orthanc-dicomweb"
DICOMWEB_ROOT = "/dicom-web/"


def dicomweb_plugin() -> Path | None:
    """The DICOMweb plugin's shared library, or None when it is not installed."""
    for path in DICOMWEB_PLUGIN_PATHS:
        if path.is_file():
            return path
    return None


class OrthancServer(DcmtkNetworkMixin, DicomServer):
    """Orthanc on free DICOM and HTTP ports of 127.0.0.1, storage and index in ``workdir``.

    ``peers`` become ``DicomModalities`` (C-MOVE destinations).  ``check_called_aet``
    makes Orthanc reject associations not addressed to its AE title.  Every DICOM command
    is allowed from any calling AE.  ``config`` entries override the generated ones.
    ``tcp_nodelay``: see :class:`DcmtkNetworkMixin`.  ``dicomweb`` loads the DICOMweb
    plugin (and no other); ``dicomweb_servers`` maps names to the base URLs of remote
    DICOMweb servers (``{"dicomref": "http://127.0.0.1:8042/dicom-web"}``).
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
        dicomweb: bool = False,
        dicomweb_servers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(workdir, ae=ae, peers=peers)
        if dicomweb_servers and not dicomweb:
            raise ValueError("dicomweb_servers needs dicomweb=True")
        self.dicomweb = dicomweb
        self.dicomweb_servers = dict(dicomweb_servers or {})
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

    @property
    def dicomweb_url(self) -> str:
        """The DICOMweb base URL (``http://127.0.0.1:PORT/dicom-web``, no trailing slash)."""
        if not self.dicomweb:
            raise RuntimeError("this Orthanc was started without dicomweb=True")
        return self.base_url + DICOMWEB_ROOT.rstrip("/")

    def unavailable_reason(self) -> str | None:
        reason = super().unavailable_reason()
        if reason is None and self.dicomweb:
            reason = self.missing_dicomweb_plugin()
        return reason

    @staticmethod
    def missing_dicomweb_plugin() -> str | None:
        """Why the DICOMweb plugin cannot be loaded (naming its Debian package), or None."""
        if dicomweb_plugin() is not None:
            return None
        where = ", ".join(str(path) for path in DICOMWEB_PLUGIN_PATHS)
        return (
            f"Orthanc's DICOMweb plugin not found ({where}): install the Debian package "
            f"'{DICOMWEB_DEBIAN_PACKAGE}' (apt-get install {DICOMWEB_DEBIAN_PACKAGE})"
        )

    def start(self) -> Self:
        if self.dicomweb and (reason := self.missing_dicomweb_plugin()) is not None:
            raise ServerUnavailableError(reason)
        return super().start()

    def _dicomweb_configuration(self) -> dict[str, Any]:
        plugin = dicomweb_plugin()
        assert plugin is not None  # start() checked it
        return {
            "Plugins": [str(plugin)],
            "DicomWeb": {
                "Enable": True,
                "Root": DICOMWEB_ROOT,
                "EnableWado": False,
                "Ssl": False,
                "Host": f"{LOOPBACK}:{self.http_port}",
                "Servers": {name: [url] for name, url in self.dicomweb_servers.items()},
            },
        }

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
        if self.dicomweb:
            config.update(self._dicomweb_configuration())
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
