"""The object page: what ``dicomref show`` shows, as HTML text with every UID on it.

Files holding the object and where each sits (patient, study, series), what it references
(held or missing, and where a missing one was expected), what references it, a link to its
DICOMweb metadata and to its reference graph.
"""

from __future__ import annotations

from dicomref import labels
from dicomref.model import ObjectSummary
from dicomref.server.page._html import (
    esc,
    graph_href,
    layout,
    link,
    metadata_href,
    name,
    object_href,
    study_href,
    uid,
)
from dicomref.show import ObjectView, ResolvedReference

#: Above this many objects of one kind, the list folds into a count (missing ones listed).
FOLD_OVER = 8


def when_(f: ObjectSummary) -> str:
    return labels.date(f.study_date)


def _file(f: ObjectSummary) -> str:
    series = labels.series_title(f.modality, f.series_number, f.series_description)
    rows = [
        ("File", f"<code>{esc(f.path)}</code>"),
        ("Patient", f"{name(f.patient_name)} ({esc(f.patient_id or '-')})"),
        (
            "Study",
            link(
                study_href(f.study), f"{f.study_description or 'study'} {labels.date(f.study_date)}"
            )
            + " "
            + uid(f.study),
        ),
        ("Series", f"{esc(series)} {uid(f.series)}"),
        ("SOP class", f"{esc(labels.class_name(f.sop_class))} {uid(f.sop_class)}"),
        ("Instance number", esc(f.instance_number if f.instance_number is not None else "-")),
        *_named(f),
        (
            "Transfer syntax",
            esc(labels.class_name(f.transfer_syntax) if f.transfer_syntax else "-"),
        ),
        ("Frame of reference", uid(f.frame_of_reference) if f.frame_of_reference else "-"),
        ("DICOMweb", link(metadata_href(f.study, f.series, f.sop_instance), "metadata (JSON)")),
    ]
    if f.number_of_frames:
        rows.insert(6, ("Frames", esc(f.number_of_frames)))
    return '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _named(f: ObjectSummary) -> list[tuple[str, str]]:
    """What people name the object by, where it says: its date, label, counts, dose."""
    rows = []
    when = f"{labels.date(f.content_date)} {labels.time(f.content_time)}".strip()
    if when:
        rows.append(("Date", esc(when)))
    if f.label:
        rows.append(("Label", esc(f.label)))
    for title, count in (
        ("ROIs", f.roi_count),
        ("Beams", f.beam_count),
        ("Applicators", f.applicator_count),
    ):
        if count is not None:
            rows.append((title, esc(count)))
    dose = " ".join(v for v in (f.dose_type, f.dose_units) if v)
    if f.dose_summation:
        dose += (", " if dose else "") + f"summation type {f.dose_summation}"
    if dose:
        rows.append(("Dose", esc(dose)))
    return rows


def _expected(item: ResolvedReference) -> str:
    ref = item.reference
    where = []
    if ref.series:
        where.append(f"series {uid(ref.series)}")
    if ref.study:
        where.append(f"study {link(study_href(ref.study), ref.study, 'uid')}")
    return f" expected in {', '.join(where)}" if where else ""


def _references(items: tuple[ResolvedReference, ...], forward: bool) -> str:
    """One line per (kind, object); kinds of many objects fold to a count and the missing."""
    if not items:
        return '<p class="none">None.</p>'
    by_kind: dict[str, dict[str, list[ResolvedReference]]] = {}
    for item in items:
        ref = item.reference
        other = ref.target if forward else ref.source
        by_kind.setdefault(labels.kind_name(ref.kind), {}).setdefault(other, []).append(item)
    parts = []
    for kind, objects in by_kind.items():
        lines = []
        missing = [u for u, group in objects.items() if not group[0].resolved]
        instance = next(iter(objects.values()))[0].reference.instance
        fold = len(objects) > FOLD_OVER
        for other, group in objects.items():
            first = group[0]
            if fold and first.resolved:
                continue
            more = f" (+{len(group) - 1} more places)" if len(group) > 1 else ""
            if first.resolved:
                state = '<span class="held">✓</span>'
            elif instance:
                state = '<span class="missing">✗ missing</span>'
            else:
                state = '<span class="na">·</span>'
            target = (
                link(object_href(other), other, "uid") if instance or not forward else uid(other)
            )
            where = _expected(first) if instance and not first.resolved else ""
            lines.append(
                f"<li>{state} {target}{where} "
                f'<span class="path">{esc(first.reference.path)}{esc(more)}</span></li>'
            )
        held = len(objects) - len(missing)
        head = f"{esc(kind)}: {labels.plural(len(objects), 'object')}"
        if instance:
            head += f", {held} held" + (f", {len(missing)} missing" if missing else "")
        if fold:
            head += f" (listing only the missing; over {FOLD_OVER} objects)"
        parts.append(f"<li><strong>{head}</strong><ul>{''.join(lines)}</ul></li>")
    return f'<ul class="refs">{"".join(parts)}</ul>'


def render_object(view: ObjectView) -> str:
    head = view.files[0] if view.files else None
    if head is not None:
        title = labels.object_name(head)
        series = labels.series_title(head.modality, head.series_number, head.series_description)
        heading = f"<h1>{esc(title)} <small>{esc(series)}</small></h1>"
    else:
        title = "Missing object"
        heading = '<h1 class="missing">Missing object <small>not in any scanned file</small></h1>'
        hints = sorted({_expected(r) for r in view.referrers} - {""})
        heading += "".join(f'<p class="missing">Referenced and{h}.</p>' for h in hints)
    files = "".join(_file(f) for f in view.files)
    if len(view.files) > 1:
        files = (
            f'<p class="warn">Held by {len(view.files)} files: duplicate SOP Instance UID.</p>'
            + files
        )
    body = (
        f"{heading}<p>SOP Instance UID {uid(view.uid)}</p>"
        f'<p class="tools">{link(graph_href(view.uid), "Reference graph")} · '
        f"{link(graph_href(view.uid, 1, 'forward'), 'what it references')} · "
        f"{link(graph_href(view.uid, 1, 'reverse'), 'what references it')}</p>"
        f'<section id="files"><h2>Files</h2>{files or "<p class=none>None.</p>"}</section>'
        f'<section id="references"><h2>References ({len(view.references)})</h2>'
        f"{_references(view.references, True)}</section>"
        f'<section id="referrers"><h2>Referenced by ({len(view.referrers)})</h2>'
        f"{_references(view.referrers, False)}</section>"
    )
    return layout(f"{title} {view.uid}", body)
