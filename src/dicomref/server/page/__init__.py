"""The web page over the catalog: find patients and studies, see a study as its RT chain,
an object as ``dicomref show`` shows it, and the reference graph drawn in the browser.

Read only, server-rendered HTML with a small script for the graph (Cytoscape.js with the
dagre layout, shipped in ``static/vendor``: nothing is loaded from outside the server).
:func:`page_routes` gives the routes; the HTTP server (``dicomref serve --http-port``)
mounts them next to DICOMweb (``/dicom-web``), whose metadata the object page links to.

Starlette is imported here and below only: nothing else in dicomref imports this package
at start-up.  See docs/web-page.md.
"""

from __future__ import annotations

from dicomref.server.page._routes import page_routes

__all__ = ["page_routes"]
