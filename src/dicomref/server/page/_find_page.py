"""The find page: the search form, its results, and the studies indexed last."""

from __future__ import annotations

from dicomref.server.page._find import Search, StudyRow
from dicomref.server.page._html import esc, layout, link, name, study_href, table, when

#: Modalities the form offers (any other can be typed in the URL).
MODALITIES = ("", "CT", "MR", "PT", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "SEG", "SR", "KO")


def _rows(found: list[StudyRow]) -> list[list[str]]:
    return [
        [
            esc(r.patient_id or "-"),
            name(r.patient_name),
            when(r.study_date),
            link(study_href(r.study_uid), r.description or r.study_uid),
            esc(r.accession_number or "-"),
            esc(" ".join(r.modalities) or "-"),
            esc(r.series),
        ]
        for r in found
    ]


HEAD = ["Patient ID", "Name", "Date", "Study", "Accession", "Modalities", "Series"]


def _form(asked: Search) -> str:
    modalities = "".join(
        f'<option value="{esc(m)}"{" selected" if m == asked.modality else ""}>'
        f"{esc(m or 'any')}</option>"
        for m in MODALITIES
    )
    return f"""<form class="find" method="get" action="/">
<label>Patient ID, name, accession or UID
<input type="search" name="q" value="{esc(asked.text)}" autofocus></label>
<label>From <input type="date" name="from" value="{esc(_iso(asked.date_from))}"></label>
<label>To <input type="date" name="to" value="{esc(_iso(asked.date_to))}"></label>
<label>Modality <select name="modality">{modalities}</select></label>
<button type="submit">Find</button>
</form>"""


def _iso(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:]}" if len(value) == 8 else ""


def render_find(asked: Search, found: list[StudyRow] | None, recent: list[StudyRow]) -> str:
    body = f"<h1>Find a patient or study</h1>{_form(asked)}"
    if found is not None:
        body += (
            f'<section id="results"><h2>{len(found)} '
            f"{'study' if len(found) == 1 else 'studies'} found</h2>"
            f"{table(HEAD, _rows(found))}</section>"
        )
    body += f'<section id="recent"><h2>Recently scanned</h2>{table(HEAD, _rows(recent))}</section>'
    return layout("Find", body, query=asked.text)
