"""Real DICOM servers for tests, each on a free loopback port with storage in a temp folder.

::

    with running(OrthancServer(tmp_path, peers=[Peer("DICOMREF", "127.0.0.1", port)])) as pacs:
        pacs.upload([path])
        ...  # talk DIMSE to pacs.peer

- :class:`OrthancServer` (Debian package ``orthanc``), :class:`DcmqrscpServer` (``dcmtk``):
  they listen on every interface, so they start only in a private network namespace
  (``scripts/in-netns.sh``); elsewhere ``start()`` raises ServerUnavailableError.
- :class:`QrscpServer`: pynetdicom's qrscp, bound to 127.0.0.1.
- :class:`PostgresServer`: a throwaway PostgreSQL cluster (Debian package ``postgresql``) on
  127.0.0.1: ``PostgresServer(workdir).start()``, ``.create_database(name)`` → its URL,
  ``.url(name)``, ``.drop_database(name)``, ``.stop()``.
- :func:`dcmtk_program`: DCMTK's program of a name, checked by its ``--version`` (never
  pynetdicom's script of the same name); :func:`require_dcmtk` raises when it is missing.
- :class:`ScriptedPeer`, :class:`GarbagePeer`: in-process peers that hang, abort or speak
  no DICOM, for the failures real servers do not show on demand.

:func:`running` turns "cannot run here" into a skip, or a failure when CI is "true".
"""

from __future__ import annotations

from ._base import DcmtkNetworkMixin, DicomServer
from ._data import clone_ct, ct_small, sop_instance_uid
from ._dcmtk import DcmqrscpServer, dcmtk_program, require_dcmtk
from ._errors import ServerLoadError, ServerStartError, ServerUnavailableError
from ._netns import NotInPrivateNetnsError, in_private_netns, require_private_netns
from ._orthanc import OrthancServer
from ._ports import LOOPBACK, Peer, free_port, free_ports, port_open
from ._postgres import PostgresServer, postgres_bin_dir
from ._process import ManagedProcess, wait_until
from ._pytest import dcmtk_for_test, in_ci, running, unavailable
from ._qrscp import QrscpServer
from ._scripted import GarbagePeer, ScriptedPeer

__all__ = [
    "LOOPBACK",
    "DcmqrscpServer",
    "DcmtkNetworkMixin",
    "DicomServer",
    "GarbagePeer",
    "ManagedProcess",
    "NotInPrivateNetnsError",
    "OrthancServer",
    "Peer",
    "PostgresServer",
    "QrscpServer",
    "ScriptedPeer",
    "ServerLoadError",
    "ServerStartError",
    "ServerUnavailableError",
    "clone_ct",
    "ct_small",
    "dcmtk_for_test",
    "dcmtk_program",
    "free_port",
    "free_ports",
    "in_ci",
    "in_private_netns",
    "port_open",
    "postgres_bin_dir",
    "require_dcmtk",
    "require_private_netns",
    "running",
    "sop_instance_uid",
    "unavailable",
    "wait_until",
]
