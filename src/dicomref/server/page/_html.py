"""HTML pieces shared by the pages: escaping, links, the layout around every page.

Pages are strings built here, every value from the catalog escaped with :func:`esc`
(file names and descriptions come from files, and files can say anything).
"""

from __future__ import annotations

import html
from urllib.parse import quote

from dicomref._filenames import printable_path
from dicomref.labels import date


def esc(value: object) -> str:
    """``value`` as HTML text: on one line (control characters escaped, as file names
    are), markup characters escaped."""
    return html.escape(printable_path(str(value)), quote=True)


def object_href(uid: str) -> str:
    return f"/objects/{quote(uid, safe='')}"


def study_href(uid: str) -> str:
    return f"/studies/{quote(uid, safe='')}"


def graph_href(uid: str, depth: int = 2, direction: str = "both") -> str:
    return f"/graph/{quote(uid, safe='')}?depth={depth}&direction={direction}"


def metadata_href(study: str, series: str, sop: str) -> str:
    """The object's DICOMweb metadata, served under /dicom-web by the same server."""
    parts = (quote(p, safe="") for p in (study, series, sop))
    return "/dicom-web/studies/{}/series/{}/instances/{}/metadata".format(*parts)


def link(href: str, text: object, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<a href="{esc(href)}"{klass}>{esc(text)}</a>'


def uid(value: str) -> str:
    """A UID to read, copy and search: monospace, breaking anywhere on narrow screens."""
    return f'<code class="uid">{esc(value)}</code>'


def when(study_date: str | None) -> str:
    return esc(date(study_date)) if study_date else "-"


def name(patient_name: str | None) -> str:
    """DICOM person names as people write them: ``DOE^JANE`` as ``DOE, JANE``."""
    if not patient_name:
        return "-"
    family, _, rest = patient_name.partition("^")
    given = " ".join(p for p in rest.split("^") if p)
    return esc(f"{family}, {given}" if given else family)


def table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """A table in a box that scrolls sideways on its own, so the page never does.
    ``head`` is plain text, ``rows`` hold HTML already escaped."""
    if not rows:
        return '<p class="none">None.</p>'
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<div class="scroll"><table{klass}><thead><tr>{th}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def layout(title: str, body: str, *, query: str = "", scripts: tuple[str, ...] = ()) -> str:
    """The whole page: header with the search box, then ``body`` (HTML)."""
    tags = "".join(f'<script src="/static/{esc(s)}" defer></script>' for s in scripts)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · dicomref</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/page.css">
{tags}
</head>
<body>
<header>
<a class="home" href="/">dicomref</a>
<form class="search" action="/" method="get" role="search">
<input type="search" name="q" value="{esc(query)}" placeholder="Patient ID, name, accession, UID"
 aria-label="Search patients and studies">
<button type="submit">Find</button>
</form>
</header>
<main>
{body}
</main>
</body>
</html>
"""
