"""The DICOMweb wire layer shared by the client (:mod:`dicomref.remote`) and the server
(:mod:`dicomref.server`): what both ends of QIDO-RS / WADO-RS / STOW-RS agree on.

Modules, each imported by what uses it (this package re-exports nothing):

``_node``       :class:`WebNode` (a base URL and how to reach it: credentials, TLS,
                timeouts, the request-line budget) and :class:`Credentials`; no httpx
``_media``      media types, the ``Accept`` headers of WADO-RS, parsing ``Content-Type``
``_multipart``  a streaming ``multipart/related`` reader: one part at a time, bounded
``_json``       DICOM JSON (PS3.18 F.2): tags and keywords, QIDO rows as pydicom datasets
``_paths``      QIDO-RS / WADO-RS paths and query strings, UID lists cut to a URL budget
``_http``       an httpx client for a :class:`WebNode`, and httpx's errors turned into
                dicomref's (:class:`~dicomref.errors.RemoteError` and its children)

Only ``_http`` imports httpx, and only when a client is made.
"""
