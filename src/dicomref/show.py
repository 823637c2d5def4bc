"""Everything the catalog knows about one UID: where it is, what it references, what
references it, each reference marked resolved (some indexed file holds its target) or not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dicomref.errors import NotInCatalogError
from dicomref.model import ObjectSummary, Reference

if TYPE_CHECKING:
    from dicomref.catalog import Catalog


@dataclass(frozen=True, slots=True)
class ResolvedReference:
    reference: Reference
    resolved: bool
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ObjectView:
    """``files`` is empty when no indexed file holds ``uid`` but something references it."""

    uid: str
    files: tuple[ObjectSummary, ...]
    references: tuple[ResolvedReference, ...]
    referrers: tuple[ResolvedReference, ...]


def view_object(catalog: Catalog, uid: str) -> ObjectView:
    """Gather the view of ``uid``; raises NotInCatalogError if nothing mentions it."""
    files = catalog.locate(uid)
    referrers = catalog.referrers(uid)
    if not files and not referrers:
        raise NotInCatalogError(uid)
    forward = []
    held: dict[str, tuple[str, ...]] = {}
    for ref in catalog.references_from(uid) if files else []:
        if ref.target not in held:
            held[ref.target] = tuple(s.path for s in catalog.locate(ref.target))
        forward.append(ResolvedReference(ref, bool(held[ref.target]), held[ref.target]))
    backward = []
    for ref in referrers:
        paths = tuple(s.path for s in catalog.locate(ref.source))
        backward.append(ResolvedReference(ref, True, paths))
    return ObjectView(uid, tuple(files), tuple(forward), tuple(backward))
