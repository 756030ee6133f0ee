"""What notebooks show: headings, text and tables as escaped HTML.

Data strings (dealer, customer, consultant and channel names) may contain markup such as
``<script>``. Markdown and raw HTML outputs would render it, so notebooks show data only through
these helpers, which escape every string (``html.escape``; pandas ``to_html(escape=True)``).
:func:`neutralize_active_html` is the runner's safety net on the executed notebook: in an HTML
(or Markdown) output that still carries active content, exactly the active parts are made
inert (a ``<script>`` tag shown as text, an ``onerror=`` or ``href="javascript:..."`` attribute
dropped); the rest of the output, tables included, stays readable. Text that merely mentions
``javascript:`` (a customer name, escaped in a table cell) is data, not active content.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from html.parser import HTMLParser
from typing import Any

import pandas as pd

from crm_analytics.report.text import fmt_count, fmt_pct, fmt_prob, is_missing, t

__all__ = [
    "fmt_by_unit",
    "fmt_count",
    "fmt_kpi",
    "fmt_pct",
    "fmt_prob",
    "contents",
    "heading",
    "status_badge",
    "status_text",
    "html_table",
    "link",
    "neutralize_active_html",
    "paragraph",
    "sanitize_html",
    "show",
    "show_heading",
    "show_table",
    "show_text",
]

#: A quick test: outputs that match nothing here are left as they are.
_MAYBE_ACTIVE = re.compile(
    r"<\s*[a-z!?/]|javascript|vbscript|expression\s*\(|@import", re.IGNORECASE
)
#: Elements that run code, load content or change the page; shown as text.
_ACTIVE_TAGS = frozenset(
    {
        "script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "meta",
        "link", "base", "svg", "math", "template", "noscript", "portal", "input", "button",
        "textarea", "select", "option", "dialog", "audio", "video", "source", "track",
    }
)  # fmt: skip
#: Attributes that hold a URL: only http(s), mailto, relative links and raster data images.
_URL_ATTRS = frozenset(
    {"href", "src", "action", "formaction", "xlink:href", "background", "poster", "srcset",
     "data", "codebase", "cite", "longdesc", "lowsrc", "dynsrc", "ping"}
)  # fmt: skip
_SAFE_URL = re.compile(
    r"^(?:https?:|mailto:|#|/|\.|[^:/?#]*(?:[/?#]|$)|data:image/(?:png|jpeg|gif|webp);)",
    re.IGNORECASE,
)
_ACTIVE_CSS = re.compile(r"expression\s*\(|javascript:|vbscript:|@import|url\s*\(|behavior\s*:",
                         re.IGNORECASE)  # fmt: skip
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\xa0\u200b-\u200f\u2028\u2029\ufeff]+")


class _Sanitizer(HTMLParser):
    """Rebuild HTML keeping what is inert; ``changed`` tells whether anything was not."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self.changed = False
        self._style: list[str] | None = None  # text of an open <style> element

    def _text(self, text: str) -> None:
        if self._style is not None:
            self._style.append(text)
        else:
            self.out.append(text)

    def _inert(self, raw: str) -> None:
        self.changed = True
        self._text(html.escape(raw))

    def _attrs(self, attrs: list[tuple[str, str | None]]) -> str:
        kept = []
        for name, value in attrs:
            plain = _INVISIBLE.sub("", html.unescape(value or ""))
            if (
                name.startswith("on")
                or (name in _URL_ATTRS and value is not None and not _SAFE_URL.match(plain))
                or (name == "style" and _ACTIVE_CSS.search(plain))
                or name in ("srcdoc", "formaction", "http-equiv")
            ):
                self.changed = True
                continue
            kept.append(name if value is None else f'{name}="{html.escape(value, quote=True)}"')
        return "".join(" " + a for a in kept)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _ACTIVE_TAGS:
            self._inert(self.get_starttag_text() or f"<{tag}>")
        elif tag == "style":
            self._style = []
        else:
            self._text(f"<{tag}{self._attrs(attrs)}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _ACTIVE_TAGS or tag == "style":
            self._inert(self.get_starttag_text() or f"<{tag}/>")
        else:
            self._text(f"<{tag}{self._attrs(attrs)}/>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self._style is not None:
            css = "".join(self._style)
            self._style = None
            if _ACTIVE_CSS.search(css):
                self._inert(f"<style>{css}</style>")
            else:
                self.out.append(f"<style>{css}</style>")
        elif tag in _ACTIVE_TAGS:
            self._inert(f"</{tag}>")
        else:
            self._text(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self._style is not None:
            self._style.append(data)
        else:  # text outside tags: a stray "<" or ">" shown as itself
            self.out.append(data.replace("<", "&lt;").replace(">", "&gt;"))

    def handle_entityref(self, name: str) -> None:
        self._text(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self._text(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        self.changed = self.changed or bool(re.search(r"\[if|<", data, re.IGNORECASE))

    def handle_decl(self, decl: str) -> None:
        pass  # <!DOCTYPE ...>: meaningless in an output

    def handle_pi(self, data: str) -> None:
        self.changed = True

    def unknown_decl(self, data: str) -> None:
        self._inert(f"<![{data}]>")

    def finish(self) -> None:
        """Close the parser; an unclosed ``<style>`` or an unfinished tag becomes text."""
        self.close()
        if self._style is not None:
            css, self._style = "".join(self._style), None
            self._inert("<style>" + css)
        if self.rawdata:
            self._inert(self.rawdata)
            self.rawdata = ""


def sanitize_html(fragment: str) -> tuple[str, bool]:
    """Make the active parts of an HTML fragment inert and keep the rest.

    Active elements (script, iframe, object, svg, form, ...) are shown as escaped text, event
    handler attributes (``on...``) and URLs other than http(s), mailto, relative links and
    raster ``data:image`` are dropped, as are styles that run or load anything
    (``expression(``, ``url(``, ``@import``). Tables, headings, text and safe styles are kept.

    Returns
    -------
    html, changed
        The inert fragment and whether anything was made inert.
    """
    if not _MAYBE_ACTIVE.search(fragment):
        return fragment, False
    parser = _Sanitizer()
    parser.feed(fragment)
    parser.finish()
    if not parser.changed:
        return fragment, False
    return "".join(parser.out), True


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


def link(text: str, href: str) -> str:
    """An escaped paragraph holding one link (``href``: a file beside the page, relative)."""
    return f'<p><a href="{html.escape(href, quote=True)}">{html.escape(str(text))}</a></p>'


def html_table(
    frame: pd.DataFrame,
    *,
    formatters: Mapping[str, Callable[[Any], str]] | None = None,
    index: bool = True,
    max_rows: int = 60,
    lang: str | None = None,
) -> str:
    """A DataFrame as an escaped HTML table (``to_html(escape=True)``), large and readable.

    ``formatters`` map a column to a function returning plain text (escaped like any other
    value). Past ``max_rows`` a note counts the rows left out, in ``lang`` (by default the
    language of the table's headers: Chinese when one holds a Chinese character).
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
    body = _DATE_CELL.sub(r'<td style="white-space:nowrap">\1</td>', body)  # never 2025-07-/08
    more = ""
    if len(frame) > max_rows:
        if lang is None:
            lang = "zh" if any(_HAN.search(str(c)) for c in frame.columns) else "en"
        more = paragraph(t("table_more_rows", lang, n=f"{len(frame) - max_rows:,}"), muted=True)
    style = (
        "<style>.crm-table{border-collapse:collapse;font-size:15px;margin:6px 0}"
        ".crm-table th,.crm-table td{padding:4px 10px;text-align:right;"
        "border-bottom:1px solid #ddd}.crm-table th{background:#f3f3f3}"
        ".crm-table tbody th{white-space:nowrap}</style>"
    )
    return style + body + more


#: a Chinese (Han) character
_HAN = re.compile(r"[\u4e00-\u9fff]")
#: a table cell written by :func:`status_text` (``● green`` / ``● 绿``): coloured in tables
_STATUS_CELL = re.compile(r"<td>● (red|amber|green|红|黄|绿)</td>")
_STATUS_OF = {"红": "red", "黄": "amber", "绿": "green"}
#: a cell holding a date (``2025-07-08``) or a date range: kept on one line in narrow columns
_DATE_CELL = re.compile(r"<td>(\d{4}-\d{2}-\d{2}(?: (?:–|至|to) \d{4}-\d{2}-\d{2})?)</td>")


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
    from IPython.display import HTML, display  # only inside a kernel

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
    """Make the active parts of HTML and Markdown outputs inert, in place.

    Parameters
    ----------
    nb
        An executed ``nbformat`` notebook.

    Returns
    -------
    int
        How many outputs were changed (0 when every notebook output was built by the
        escaping helpers). Only the active parts change (see :func:`sanitize_html`); an SVG
        image that carries script or event handlers is replaced by a note.
    """
    n = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data:
                continue
            changed = False
            for mime in ("text/html", "text/markdown"):
                if mime in data:
                    raw = data[mime]
                    raw = "".join(raw) if isinstance(raw, list) else str(raw)
                    clean, hit = sanitize_html(raw)
                    if hit:
                        data[mime] = clean
                        changed = True
            svg = data.get("image/svg+xml")
            if svg is not None:
                raw = "".join(svg) if isinstance(svg, list) else str(svg)
                if re.search(r"<\s*script|\son[a-z]+\s*=|javascript:|<\s*foreignobject", raw, re.I):
                    del data["image/svg+xml"]
                    data.setdefault("text/plain", "(an SVG image with active content was removed)")
                    changed = True
            n += changed
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


def fmt_kpi(v: Any) -> str:
    """A KPI value: a rate as a percentage, an amount (>= 10) with thousands separators."""
    if is_missing(v):
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
            if is_missing(v)
            else f"{float(v):.1%}"
            if u == "share"
            else f"{float(v):,.0f}"
            if abs(float(v)) >= 100
            else f"{float(v):,.2f}"
            for v, u in zip(frame[c], units, strict=True)
        ]
    return out
