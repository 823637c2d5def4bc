"""Where a refused C-MOVE "sends": a loopback SCP that accepts Verification and nothing
else, so that no real destination is contacted for a request that is refused.

pynetdicom's C-MOVE SCP asks the handler for the destination, then for the number of
sub-operations, then associates with the destination, and only then takes a status from
the handler.  A refusal (0xA900, 0x0124, 0xA701) therefore needs an association that
succeeds: with the real destination it would open one for nothing, and fail as 0xA801
whenever the destination does not accept what is proposed.  This sink always accepts.
"""

from __future__ import annotations

from typing import Final

from pynetdicom import AE
from pynetdicom.transport import ThreadedAssociationServer

from dicomref._dimse._contexts import VERIFICATION
from dicomref.errors import ServerError

SINK_AE: Final = "DICOMREF_SINK"
_LOOPBACK: Final = "127.0.0.1"


class RefusalSink:
    """A Verification-only SCP on a free loopback port, for the life of the server."""

    def __init__(self) -> None:
        self._ae: AE | None = None
        self._server: ThreadedAssociationServer | None = None

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise ServerError("the refusal sink is not running")
        return _LOOPBACK, int(self._server.server_address[1])

    def start(self) -> None:
        ae = AE(ae_title=SINK_AE)
        ae.add_supported_context(VERIFICATION)
        ae.maximum_associations = 64
        try:
            self._server = ae.start_server((_LOOPBACK, 0), block=False)
        except OSError as exc:
            raise ServerError(f"cannot listen on {_LOOPBACK} for refused C-MOVEs: {exc}") from exc
        self._ae = ae

    def stop(self) -> None:
        ae, self._ae, self._server = self._ae, None, None
        if ae is not None:
            ae.shutdown()
