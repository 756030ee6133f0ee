"""HTML export of executed notebooks and the run's ``index.html``; atomic file writes."""

from __future__ import annotations

import datetime as _dt
import html
import os
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from crm_analytics.core.files import atomic_write_text
from crm_analytics.report.display import neutralize_active_html

__all__ = ["HIDDEN_TAGS", "export_html", "write_index"]

#: Cells with these tags are left out of exported reports (papermill's parameter cells and
#: anything an author tags ``remove``).
HIDDEN_TAGS: frozenset[str] = frozenset({"parameters", "injected-parameters", "remove"})


@cache
def _exporter() -> Any:
    from nbconvert import HTMLExporter

    return HTMLExporter(
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_output_stdin=True,
    )


def export_html(nb: Any, path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Export an executed notebook to a self-contained HTML report, atomically.

    No code and no parameter cells: inputs are excluded and cells tagged with any of
    :data:`HIDDEN_TAGS` are dropped. HTML outputs with active content are shown as text
    (:func:`~crm_analytics.report.display.neutralize_active_html`). Figures are embedded.
    """
    import copy

    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if not HIDDEN_TAGS & set(c.get("metadata", {}).get("tags", []))]
    neutralize_active_html(nb)
    if title:
        nb.metadata["title"] = title
    body, _ = _exporter().from_notebook_node(nb)
    return atomic_write_text(body, path)


_STATUS_COLOUR = {"ok": "#1a7f37", "skipped": "#57606a", "failed": "#cf222e", "timeout": "#bc4c00"}


def write_index(
    path: str | os.PathLike[str],
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str = "Dealer reports",
    extra_links: Sequence[tuple[str, str]] = (),
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write the run's ``index.html``: one row per dealer with status, duration, link, error.

    Parameters
    ----------
    rows
        Mappings with ``dealer_id``, ``name``, ``status``, ``duration_s``, ``link`` (relative
        path or empty) and ``error``. Every value is HTML-escaped.
    extra_links
        (label, relative path) pairs shown above the table (e.g. the network overview).
    meta
        Run facts shown under the title (key -> value).
    """
    esc = html.escape
    n_fail = sum(r.get("status") in ("failed", "timeout") for r in rows)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;font-size:16px}"
        "table{border-collapse:collapse}th,td{padding:6px 12px;border-bottom:1px solid #ddd;"
        "text-align:left;vertical-align:top}th{background:#f3f3f3}"
        "td.err{font-family:monospace;white-space:pre-wrap;max-width:60em;font-size:13px}"
        "</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>{len(rows)} dealer(s), {n_fail} failed. Written "
        f"{esc(_dt.datetime.now().isoformat(timespec='seconds'))}.</p>",
    ]
    if meta:
        parts.append(
            "<p>" + "<br>".join(f"{esc(str(k))}: {esc(str(v))}" for k, v in meta.items()) + "</p>"
        )
    if extra_links:
        parts.append(
            "<p>"
            + " · ".join(
                f"<a href='{esc(href, quote=True)}'>{esc(lbl)}</a>" for lbl, href in extra_links
            )
            + "</p>"
        )
    parts.append(
        "<table><thead><tr><th>dealer</th><th>name</th><th>status</th><th>duration</th>"
        "<th>report</th><th>error</th></tr></thead><tbody>"
    )
    for r in rows:
        status = str(r.get("status", ""))
        colour = _STATUS_COLOUR.get(status, "#000")
        link = r.get("link") or ""
        dur = r.get("duration_s")
        dur_s = f"{float(dur):.1f} s" if isinstance(dur, int | float) else ""
        parts.append(
            "<tr>"
            f"<td>{esc(str(r.get('dealer_id', '')))}</td>"
            f"<td>{esc(str(r.get('name', '') or ''))}</td>"
            f"<td style='color:{colour};font-weight:bold'>{esc(status)}</td>"
            f"<td>{esc(dur_s)}</td>"
            + (f"<td><a href='{esc(str(link), quote=True)}'>open</a></td>" if link else "<td></td>")
            + f"<td class='err'>{esc(str(r.get('error') or ''))}</td>"
            "</tr>"
        )
    parts.append("</tbody></table></body></html>\n")
    return atomic_write_text("".join(parts), path)
