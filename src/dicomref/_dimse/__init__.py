"""The DIMSE wire layer shared by the client (:mod:`dicomref.remote`) and the server
(:mod:`dicomref.server`): what both ends of an association must agree on.

Modules, each imported by what uses it (this package re-exports nothing):

``_node``      :class:`Node` and :class:`Timeouts` (a peer and how to reach it),
               :func:`check_ae_title`; no pynetdicom
``_levels``    the :class:`Level` and :class:`Root` enums of query/retrieve; no pynetdicom
``_contexts``  presentation contexts: Verification, the query/retrieve models, the
               storage classes and transfer syntaxes proposed; pydicom's UIDs only
``_tuning``    pynetdicom tuning for either end: quiet logging, TCP_NODELAY, the
               requestor's DUL poll and its guard against a response taken by the reactor

Only ``_tuning`` imports pynetdicom; the client
(:mod:`dicomref.remote.transport._dimse_client`) and the server (:mod:`dicomref.server._scp`)
import it when they build an AE.
"""
