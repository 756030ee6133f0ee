"""What notebooks show: headings, text and tables as escaped HTML.

Data strings (dealer, customer, consultant and channel names) may contain markup such as
``<script>``. Markdown and raw HTML outputs would render it, so notebooks show data only through
these helpers, which escape every string (``html.escape``; pandas ``to_html(escape=True)``).
:func:`neutralize_active_html` is the runner's safety net on the executed notebook: an HTML
output that still carries active content (script, event handlers, frames) is shown as text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

__all__ = [
    "fmt_by_unit",
    "contents",
    "heading",
    "status_badge",
    "status_text",
    "html_table",
    "neutralize_active_html",
    "paragraph",
    "show",
    "show_heading",
    "show_table",
    "show_text",
]

_ACTIVE = re.compile(
    r"<\s*(script|iframe|object|embed|form|meta|link|base)\b|<[^>]*\son[a-z]+\s*=|javascript:",
    re.IGNORECASE,
)


def heading(text: str, level: int = 2, *, anchor: str = "") -> str:
    """An escaped HTML heading (with ``id=anchor`` for the table of contents)."""
    level = min(max(int(level), 1), 6)
    ident = f' id="{html.escape(anchor)}"' if anchor else ""
    return f"<h{level}{ident}>{html.escape(str(text))}</h{level}>"


def contents(items: list[tuple[str, str]], title: str) -> str:
    """A table of contents: ``items`` are ``(anchor, heading text)``, linked to the headings
    written with :func:`heading` ``anchor=...``."""
    links = "".join(
        f'<li><a href="#{html.escape(a)}">{html.escape(str(text))}</a></li>' for a, text in items
    )
    return f"<nav><h2>{html.escape(title)}</h2><ol>{links}</ol></nav>"


#: colours of the red / amber / green status against target
STATUS_COLOURS: dict[str, str] = {"red": "#cf222e", "amber": "#bf8700", "green": "#1a7f37"}


def status_badge(status: str, text: str) -> str:
    """An escaped coloured status word (red / amber / green; anything else plain)."""
    colour = STATUS_COLOURS.get(status)
    body = html.escape(str(text))
    return f'<span style="color:{colour};font-weight:bold">● {body}</span>' if colour else body


def paragraph(text: str, *, muted: bool = False) -> str:
    """An escaped paragraph; line breaks are kept."""
    body = html.escape(str(text)).replace("\n", "<br>")
    style = ' style="color:#555"' if muted else ""
    return f"<p{style}>{body}</p>"


def html_table(
    frame: pd.DataFrame,
    *,
    formatters: Mapping[str, Callable[[Any], str]] | None = None,
    index: bool = True,
    max_rows: int = 60,
) -> str:
    """A DataFrame as an escaped HTML table (``to_html(escape=True)``), large and readable.

    ``formatters`` map a column to a function returning plain text (escaped like any other
    value).
    """
    body = frame.head(max_rows).to_html(
        escape=True,
        formatters=dict(formatters or {}),
        index=index,
        border=0,
        na_rep="–",
        classes="crm-table",
    )
    body = _STATUS_CELL.sub(_colour_status, body)
    more = ""
    if len(frame) > max_rows:
        more = paragraph(f"… {len(frame) - max_rows:,} more rows", muted=True)
    style = (
        "<style>.crm-table{border-collapse:collapse;font-size:15px;margin:6px 0}"
        ".crm-table th,.crm-table td{padding:4px 10px;text-align:right;"
        "border-bottom:1px solid #ddd}.crm-table th{background:#f3f3f3}</style>"
    )
    return style + body + more


#: a table cell written by :func:`status_text` (``● green`` / ``● 绿``): coloured in tables
_STATUS_CELL = re.compile(r"<td>● (red|amber|green|红|黄|绿)</td>")
_STATUS_OF = {"红": "red", "黄": "amber", "绿": "green"}


def _colour_status(m: re.Match[str]) -> str:
    word = m.group(1)
    colour = STATUS_COLOURS[_STATUS_OF.get(word, word)]
    return f'<td style="color:{colour};font-weight:bold">● {word}</td>'


def status_text(status: str, word: str) -> str:
    """The table text of a red / amber / green status (``● word``; coloured by
    :func:`html_table`); an empty status gives ``–``."""
    return f"● {word}" if status in STATUS_COLOURS else "–"


def show(fragment: str) -> None:
    """Display an HTML fragment built by this module (IPython only)."""
    from IPython.display import HTML, display

    display(HTML(fragment))


def show_heading(text: str, level: int = 2, *, anchor: str = "") -> None:
    """Display an escaped heading (``anchor``: its id for the table of contents)."""
    show(heading(text, level, anchor=anchor))


def show_text(text: str, *, muted: bool = False) -> None:
    """Display an escaped paragraph."""
    show(paragraph(text, muted=muted))


def show_table(frame: pd.DataFrame, **kw: Any) -> None:
    """Display an escaped table (see :func:`html_table`)."""
    show(html_table(frame, **kw))


def neutralize_active_html(nb: Any) -> int:
    """Turn HTML outputs that carry active content into escaped text, in place.

    Parameters
    ----------
    nb
        An executed ``nbformat`` notebook.

    Returns
    -------
    int
        How many outputs were neutralised (0 when every notebook output was built by the
        escaping helpers).
    """
    n = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data or "text/html" not in data:
                continue
            raw = data["text/html"]
            raw = "".join(raw) if isinstance(raw, list) else str(raw)
            if _ACTIVE.search(raw):
                data["text/html"] = f"<pre>{html.escape(raw)}</pre>"
                n += 1
    return n


#: Columns whose values are personal data (examples are hidden when masking).
PERSONAL_COLUMNS: frozenset[str] = frozenset({"name", "phone"})


def validation_table(report: pd.DataFrame, *, mask: bool = True) -> pd.DataFrame:
    """The validation report for display; example values of personal columns are hidden when
    ``mask`` is true (they would show raw phones and names)."""
    if report is None or not len(report):
        return pd.DataFrame(columns=["table", "column", "rule", "count", "examples"])
    out = report.copy()
    if mask and "examples" in out.columns:
        personal = out["column"].isin(PERSONAL_COLUMNS)
        out["examples"] = out["examples"].astype(object)
        out.loc[personal, "examples"] = "(masked)"
    return out


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def fmt_percent(v: Any) -> str:
    """``0.2345`` -> ``23.5%``; missing -> ``–``."""
    return "–" if _missing(v) else f"{float(v):.1%}"


def fmt_count(v: Any) -> str:
    """``12345.0`` -> ``12,345``; missing -> ``–``."""
    return "–" if _missing(v) else f"{float(v):,.0f}"


def fmt_kpi(v: Any) -> str:
    """A KPI value: a rate as a percentage, an amount (>= 10) with thousands separators."""
    if _missing(v):
        return "–"
    v = float(v)
    return f"{v:,.0f}" if abs(v) >= 10 else f"{v:.1%}"


def fmt_by_unit(
    frame: pd.DataFrame, columns: list[str] | tuple[str, ...], *, unit: str = "unit"
) -> pd.DataFrame:
    """A copy of ``frame`` with ``columns`` written as text by each row's ``unit``: shares as
    percentages (``23.5%``), yuan and counts with thousands separators, other amounts with one
    decimal. The ``unit`` column itself is kept."""
    out = frame.copy()
    units = frame[unit].astype(str) if unit in frame.columns else pd.Series("", index=frame.index)
    for c in columns:
        out[c] = [
            "–"
            if _missing(v)
            else f"{float(v):.1%}"
            if u == "share"
            else f"{float(v):,.0f}"
            if abs(float(v)) >= 100
            else f"{float(v):,.2f}"
            for v, u in zip(frame[c], units, strict=True)
        ]
    return out
