"""The study page: header, RT chain, derived objects, series, findings (HTML)."""

from __future__ import annotations

from dicomref import labels
from dicomref.check import Finding
from dicomref.graph_view import SeriesInfo
from dicomref.model import Kind
from dicomref.server.page._html import (
    esc,
    graph_href,
    layout,
    link,
    name,
    object_href,
    study_href,
    table,
    uid,
    when,
)
from dicomref.server.page._study import Link, StudyData, StudyObject

#: Modalities shown as derived from images (what they point at, grouped by series).
DERIVED = ("SEG", "SR", "KO", "PR", "REG")


def _series_text(data: StudyData, series_uid: str | None) -> str:
    info = data.series_titles.get(series_uid or "") or next(
        (s for s in data.series if s.uid == series_uid), None
    )
    return info.title if info else f"series {series_uid}"


def _series_anchor(data: StudyData, info: SeriesInfo | None, series_uid: str) -> str:
    """A link to the series on this page, or on its own study's page."""
    text = _series_text(data, series_uid)
    if info is not None and info.study != data.header.uid:
        return link(f"{study_href(info.study)}#series-{series_uid}", text) + " (another study)"
    return link(f"#series-{series_uid}", text)


def _object_line(data: StudyData, obj: StudyObject, extra: str = "") -> str:
    title = f"{labels.object_name(obj)} · {_series_text(data, obj.series)}"
    if obj.instance_number is not None:
        title += f" · instance {obj.instance_number}"
    if obj.content_date:
        title += f" · {labels.date(obj.content_date)}"
    return (
        f'<span class="obj">{link(object_href(obj.uid), title)}</span>{extra} '
        f'<span class="tools">{link(graph_href(obj.uid), "graph", "graph-link")}</span>'
    )


def _missing_lines(data: StudyData, obj: StudyObject, kinds: tuple[Kind, ...]) -> list[str]:
    """One line per missing target of these kinds, with where it was expected."""
    lines = []
    for ref in data.targets(obj.uid, *kinds):
        if ref.held or not ref.instance:
            continue
        where = (
            f" (expected in {esc(_series_text(data, ref.series_hint))})" if ref.series_hint else ""
        )
        lines.append(
            f'<li class="missing">✗ missing {esc(labels.kind_name(ref.kind))} '
            f"{link(object_href(ref.target), ref.target, 'uid')}{where}</li>"
        )
    return lines


def _images_of(data: StudyData, obj: StudyObject, *kinds: Kind) -> dict[str, list[Link]]:
    """The held targets of these kinds, per series."""
    per_series: dict[str, list[Link]] = {}
    for ref in data.targets(obj.uid, *kinds):
        if ref.series is not None:
            per_series.setdefault(ref.series, []).append(ref)
    return per_series


def _contoured(data: StudyData, series_uid: str, refs: list[Link]) -> str:
    """'contours on 7 of the 12 slices it names in CT #1 'PLANNING CT''."""
    info = data.series_titles.get(series_uid)
    noun = labels.noun(info.modality if info else None)
    named = {r.target for r in refs}
    drawn = {r.target for r in refs if r.contoured}
    return (
        f"contours on {len(drawn)} of the {labels.plural(len(named), noun)} it names "
        f"in {_series_text(data, series_uid)}"
    )


def _chain(data: StudyData) -> str:
    """Images -> structure sets -> plans -> doses -> records, as nested lists."""
    objs = data.objects
    children: dict[str, list[str]] = {}
    placed: set[str] = set()

    def attach(child: str, parent_kinds: tuple[Kind, ...]) -> None:
        for kind in parent_kinds:
            for ref in data.targets(child, kind):
                if ref.target in objs:
                    children.setdefault(ref.target, []).append(child)
                    placed.add(child)
                    return

    for obj in objs.values():
        if obj.modality == "RTPLAN":
            attach(obj.uid, (Kind.STRUCTURE_SET,))
        elif obj.modality == "RTDOSE":
            attach(obj.uid, (Kind.PLAN, Kind.STRUCTURE_SET))
        elif obj.modality == "RTRECORD":
            attach(obj.uid, (Kind.PLAN, Kind.TREATMENT_RECORD))

    def branch(uid_: str) -> str:
        obj = objs[uid_]
        extra = ""
        if obj.modality == "RTSTRUCT":
            images = _images_of(data, obj, Kind.CONTOUR_IMAGE)
            if images:
                counts = ", ".join(_contoured(data, s, refs) for s, refs in images.items())
                extra = f' <span class="count">({esc(counts)})</span>'
        kinds = (Kind.STRUCTURE_SET, Kind.PLAN, Kind.CONTOUR_IMAGE, Kind.TREATMENT_RECORD)
        inner = _missing_lines(data, obj, kinds)
        inner += [branch(c) for c in children.get(uid_, ())]
        sub = f"<ul>{''.join(inner)}</ul>" if inner else ""
        cls = esc((obj.modality or "").lower())
        return f'<li class="{cls}">{_object_line(data, obj, extra)}{sub}</li>'

    by_images: dict[str, list[str]] = {}
    loose: list[str] = []
    for obj in objs.values():
        if obj.modality == "RTSTRUCT":
            images = _images_of(data, obj, Kind.CONTOUR_IMAGE)
            hinted = [r.series_hint for r in data.targets(obj.uid, Kind.CONTOUR_IMAGE)]
            first = max(images, key=lambda s: len(images[s])) if images else None
            first = first or next((h for h in hinted if h), None)
            if first:
                by_images.setdefault(first, []).append(obj.uid)
            else:
                loose.append(obj.uid)
        elif obj.modality in labels.RT_CHAIN and obj.uid not in placed:
            loose.append(obj.uid)
    items = []
    for series_uid, sets in by_images.items():
        info = data.series_titles.get(series_uid)
        count = next((s.count for s in data.series if s.uid == series_uid), None)
        count = count if count is not None else (info.count if info else 0)
        head = _series_anchor(data, info, series_uid)
        noun = labels.noun(info.modality if info else None)
        items.append(
            f'<li class="images">{head} <span class="count">({esc(labels.plural(count, noun))}'
            f" held)</span><ul>{''.join(branch(s) for s in sets)}</ul></li>"
        )
    if loose:
        order = {m: i for i, m in enumerate(labels.RT_CHAIN)}
        loose.sort(key=lambda u: order.get(objs[u].modality or "", 9))
        items.append(
            '<li class="images">Not attached to images in this catalog'
            f"<ul>{''.join(branch(u) for u in loose)}</ul></li>"
        )
    if not items:
        return '<p class="none">No structure sets, plans, doses or records in this study.</p>'
    return f'<ul class="chain">{"".join(items)}</ul>'


def _derived(data: StudyData) -> str:
    """SEG, SR, KOS, PR, REG: what each points at, per series."""
    lines = []
    for obj in data.objects.values():
        if obj.modality not in DERIVED:
            continue
        per_series = _images_of(data, obj, *Kind)
        parts = []
        for series_uid, refs in per_series.items():
            targets = {r.target for r in refs}
            info = data.series_titles.get(series_uid)
            noun = labels.noun(info.modality if info else None)
            parts.append(
                f"<li>{_series_anchor(data, info, series_uid)} "
                f'<span class="count">({esc(labels.plural(len(targets), noun))})</span></li>'
            )
        parts += _missing_lines(data, obj, tuple(Kind))
        sub = f"<ul>{''.join(parts)}</ul>" if parts else ""
        lines.append(f"<li>{_object_line(data, obj)}{sub}</li>")
    if not lines:
        return '<p class="none">No SEG, SR, KOS or presentation states in this study.</p>'
    return f'<ul class="chain">{"".join(lines)}</ul>'


def _series_table(data: StudyData) -> str:
    rows = []
    for s in data.series:
        number = esc(s.number if s.number is not None else "-")
        rows.append(
            [
                f'<span id="series-{esc(s.uid)}">{number}</span>',
                esc(s.modality or "-"),
                f"{esc(s.description or '')}<br>{uid(s.uid)}",
                esc(s.count),
            ]
        )
    return table(["#", "Modality", "Description, Series Instance UID", "Objects"], rows)


def _findings(findings: list[Finding]) -> str:
    note = (
        '<p class="note">The checks of <code>dicomref check</code> that read the index, for '
        "this study's files: dangling references, duplicate UIDs, frames of reference, "
        "nonconforming study and series references. Contours against their slices: run "
        "<code>dicomref check</code> (it reads the files).</p>"
    )
    if not findings:
        return note + '<p class="ok">No problems found.</p>'
    items = [
        f'<li><span class="sev {esc(f.severity.value)}">{esc(f.severity.value)}</span> '
        f"<strong>{esc(f.code)}</strong> "
        + (link(object_href(f.source), f.source, "uid") if f.source else "")
        + f'<div class="message">{esc(f.message)}</div></li>'
        for f in findings
    ]
    return note + f'<ul class="findings">{"".join(items)}</ul>'


def render_study(data: StudyData) -> str:
    h = data.header
    objects = sum(s.count for s in data.series)
    facts = [
        ("Patient", f"{name(h.patient_name)} ({esc(h.patient_id or '-')})"),
        ("Date", when(h.study_date)),
        ("Description", esc(h.description or "-")),
        ("Accession", esc(h.accession_number or "-")),
        ("Study ID", esc(h.study_id or "-")),
        ("Study Instance UID", uid(h.uid)),
        (
            "Counts",
            esc(
                f"{len(data.series)} series, {labels.plural(objects, 'object')}, "
                f"{labels.plural(len(data.findings), 'finding')}"
            ),
        ),
    ]
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in facts)
    body = (
        f"<h1>{esc(h.description or 'Study')} <small>{when(h.study_date)}</small></h1>"
        f'<dl class="facts">{dl}</dl>'
        f'<section id="chain"><h2>RT chain</h2>{_chain(data)}</section>'
        f'<section id="derived"><h2>Derived objects</h2>{_derived(data)}</section>'
        f'<section id="series"><h2>Series</h2>{_series_table(data)}</section>'
        f'<section id="findings"><h2>Findings</h2>{_findings(data.findings)}</section>'
    )
    return layout(f"Study {h.description or h.uid}", body)
