"""The catalog's tables, for code that builds its own read queries over them.

The query/retrieve server (:mod:`dicomref.server`) turns C-FIND identifiers into SQL
over these tables, read through :meth:`Catalog.reading`.  Write only through
:class:`~dicomref.catalog.Catalog`'s methods: they keep the tables consistent.
"""

from __future__ import annotations

from dicomref.catalog._schema import files, patients, refs, series, studies

__all__ = ["files", "patients", "refs", "series", "studies"]
