"""HTML export of executed notebooks and the run's ``index.html``; atomic file writes."""

from __future__ import annotations

import copy
import datetime as _dt
import html
import os
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from crm_analytics.batch.tooling import load_tooling
from crm_analytics.core.files import atomic_write_text, read_json
from crm_analytics.report.display import neutralize_active_html
from crm_analytics.report.headline import (
    AMBER_WITHIN,
    KPI_KEYS,
    NOT_SHARES,
    gaps_in_yuan,
    kpi_status,
    load_benchmark,
    peers_of,
)
from crm_analytics.report.plots import format_yuan, label
from crm_analytics.report.text import TEXT, t

__all__ = ["HIDDEN_TAGS", "export_html", "write_index"]

#: Cells with these tags are left out of exported reports (papermill's parameter cells and
#: anything an author tags ``remove``).
HIDDEN_TAGS: frozenset[str] = frozenset({"parameters", "injected-parameters", "remove"})


#: nbconvert's alternative text for an image without one (kept as nbconvert writes it)
_NO_ALT = "No description has been provided for this image"
_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\balt=)")
_FOCUSABLE = re.compile(
    r'(<div class="[^"]*\b(?:jp-OutputArea-output|jp-Cell-inputWrapper)\b[^"]*"(?![^>]*\btabindex=))'
)


@cache
def _exporter() -> Any:
    load_tooling()
    from nbconvert import HTMLExporter  # nbconvert: heavy, HTML export only
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class Exporter(HTMLExporter):  # type: ignore[misc]
        """nbconvert's HTML exporter without its last pass: it parses the whole page again
        with BeautifulSoup's pure-Python parser only to give images an ``alt`` text and make
        outputs focusable (``tabindex``), two thirds of the export's time on a report page.
        Both are set here on the template's own tags; the page is otherwise the same (a test
        compares it with nbconvert's)."""

        def from_notebook_node(  # type: ignore[override]
            self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any
        ) -> tuple[str, dict[str, Any]]:
            info = nb.metadata.get("language_info", {})
            lexer = info.get("pygments_lexer", info.get("name", None))
            self.register_filter(
                "highlight_code",
                self.filters.get(
                    "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)
                ),
            )
            resources = self._init_resources(resources)
            self.register_filter(
                "filter_data_type",
                WidgetsDataTypeFilter(
                    notebook_metadata=self._nb_metadata, parent=self, resources=resources
                ),
            )
            body, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            body = _IMG_WITHOUT_ALT.sub(f'<img alt="{_NO_ALT}"', body)
            return _FOCUSABLE.sub(r'\1 tabindex="0"', body), resources

    return Exporter(
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

    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if not HIDDEN_TAGS & set(c.get("metadata", {}).get("tags", []))]
    neutralize_active_html(nb)
    if title:
        nb.metadata["title"] = title
    body, _ = _exporter().from_notebook_node(nb)
    return atomic_write_text(body, path)


_STATUS_COLOUR = {"ok": "#1a7f37", "skipped": "#1a7f37", "failed": "#cf222e", "timeout": "#bc4c00"}
_RAG_STYLE = {
    "green": "background:#dafbe1;color:#116329",
    "amber": "background:#fff1c2;color:#7d4e00",
    "red": "background:#ffd8d3;color:#a40e26",
}
#: outputs linked after the notebooks, in this order (name -> text key of the link)
_OUTPUT_LINKS = {
    "call_lists": "idx_call_lists",
    "fix_list": "idx_fix_list",
    "action_plan_next": "idx_action_plan",
}
_SORT_JS = """
function value(row, k) {
  // the sort value of column k; a cell spanning columns (a failure message) sorts last
  var c = 0;
  for (var i = 0; i < row.cells.length; i++) {
    var cell = row.cells[i];
    if (k < c + cell.colSpan) { return cell.colSpan > 1 ? '' : (cell.dataset.v || ''); }
    c += cell.colSpan;
  }
  return '';
}
document.querySelectorAll('th[data-k]').forEach(function (th) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0], k = +th.dataset.k;
    var dir = th.dataset.dir === 'asc' ? 'desc' : 'asc';
    table.querySelectorAll('th').forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = dir;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, k), y = value(b, k);
      var nx = parseFloat(x), ny = parseFloat(y), c;
      if (x === '' || y === '') { c = (x === '') - (y === ''); return c; }
      c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return dir === 'asc' ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""
_CSS = (
    "body{font-family:system-ui,'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:1.5em;"
    "font-size:15px;color:#1f2328}table{border-collapse:collapse;font-size:12.5px}"
    "div.wrap{overflow-x:auto}td.gap{min-width:9em}td.name{max-width:7em}"
    "th,td{padding:4px 5px;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top}"
    "th{background:#f6f8fa;cursor:pointer;font-weight:600;font-size:12px;max-width:6.5em}"
    "th[data-dir=asc]::after{content:' ▲'}th[data-dir=desc]::after{content:' ▼'}"
    "td.num,td.st{text-align:right;white-space:nowrap}td.st{text-align:left}td.links{min-width:9em}td.links a{display:block;white-space:nowrap}"
    "td.err div{max-width:70em}td.err{font-size:12.5px;background:#fff8f7;color:#1f2328}td.err code{font-size:12px;background:#f6f8fa}"
    "td.num small{opacity:.75}.legend span{padding:1px 6px;margin-right:6px}p.meta{color:#57606a;font-size:13px}"
)


def _dealer_doc(run_dir: Path | None, dealer_id: str) -> dict[str, Any]:
    if run_dir is None:
        return {}
    doc = read_json(run_dir / dealer_id / "metrics.json")
    return doc if isinstance(doc, dict) else {}


def _outputs(row: Mapping[str, Any], run_dir: Path | None) -> dict[str, str]:
    """The dealer's outputs: the manifest's, else (a folder written before manifests listed
    outputs) the files found in its folder."""
    outputs = dict(row.get("outputs") or {})
    if "outputs" in row or run_dir is None:  # a manifest row says what this run wrote
        return outputs
    did = str(row.get("dealer_id", ""))
    for f in sorted((run_dir / did).glob("*.html")):
        if f.name != "failed.html":
            outputs[f.stem if f.stem != "report" else "dealer_report"] = f"{did}/{f.name}"
    for f in sorted((run_dir / did).glob("*.xlsx")):
        outputs[f.stem] = f"{did}/{f.name}"
    return outputs


def _link_cell(row: Mapping[str, Any], run_dir: Path | None, lang: str) -> str:
    esc = html.escape
    outputs = _outputs(row, run_dir)
    links: list[tuple[str, str]] = []
    if row.get("status") in ("ok", "skipped") and row.get("link"):
        links.append((t("idx_report", lang), str(row["link"])))
    for name, href in outputs.items():
        if name.endswith("_scores") or name in _OUTPUT_LINKS or href == row.get("link"):
            continue
        links.append((t(f"nb_{name}", lang) if f"nb_{name}" in TEXT["en"] else name, href))
    links += [(t(k, lang), outputs[n]) for n, k in _OUTPUT_LINKS.items() if n in outputs]
    if row.get("status") in ("failed", "timeout") and row.get("link"):
        links.append((t("idx_failed_page", lang), str(row["link"])))
    return " ".join(f"<a href='{esc(h, quote=True)}'>{esc(lbl)}</a>" for lbl, h in links)


def _fix_text(row: Mapping[str, Any], lang: str) -> str:
    did = str(row.get("dealer_id", ""))
    if row.get("status") == "timeout":
        return t("fix_timeout", lang, d=did)
    if not row.get("notebooks"):
        return t("fix_load", lang, d=did)
    return t("fix_notebook", lang, d=did)


def _cell(text: str, sort_value: object = None, cls: str = "", style: str = "") -> str:
    esc = html.escape
    v = text if sort_value is None else sort_value
    attrs = f" data-v='{esc(str(v), quote=True)}'"
    attrs += f" class='{cls}'" if cls else ""
    attrs += f" style='{style}'" if style else ""
    return f"<td{attrs}>{text}</td>"


def _kpi_cells(doc: Mapping[str, Any], lang: str) -> list[str]:
    kpis = (doc.get("metrics") or {}).get("kpis") or {}
    targets = doc.get("targets") or {}
    cells = []
    for k in KPI_KEYS:
        v = kpis.get(k)
        if v is None:
            cells.append(_cell("–", "", "num"))
            continue
        status = kpi_status(k, v, targets.get(k))
        text = format_yuan(v, lang) if k in NOT_SHARES else f"{float(v):.1%}"
        tgt = targets.get(k)
        shown = html.escape(text)
        if tgt is not None:  # the target under the value: the colour is read against it
            ref = (
                format_yuan(tgt, lang)
                if k in NOT_SHARES
                else f"{float(tgt):.1%}".replace(".0%", "%")
            )
            shown += f"<br><small>{html.escape(label('target', lang))} {html.escape(ref)}</small>"
        cells.append(_cell(shown, float(v), "num", _RAG_STYLE.get(status or "", "")))
    return cells


def _gap_cell(doc: Mapping[str, Any], bench: Mapping[str, Any] | None, lang: str) -> str:
    metrics = doc.get("metrics")
    if not metrics:
        return _cell("", "")
    did = str((metrics.get("dealer") or {}).get("dealer_id", ""))
    gaps = gaps_in_yuan(metrics, targets=doc.get("targets") or {}, benchmark=peers_of(bench, did))
    if not len(gaps):
        return _cell(html.escape(t("idx_no_gap", lang)), 0, "num")
    g = gaps.iloc[0]
    against = t("idx_vs_target" if g["against"] == "target" else "idx_vs_peer", lang)
    text = (
        f"<b>{html.escape(format_yuan(g['gap_yuan'], lang))}</b><br>"
        f"{html.escape(label(str(g['kpi']), lang))} {html.escape(against)}"
    )
    return _cell(text, round(float(g["gap_yuan"]), 2), "gap")


def _dealer_row(
    row: Mapping[str, Any], run_dir: Path | None, bench: Mapping[str, Any] | None, lang: str
) -> str:
    esc = html.escape
    did = str(row.get("dealer_id", ""))
    doc = _dealer_doc(run_dir, did)
    status = str(row.get("status", ""))
    st_text = t(f"st_{status}", lang) if f"st_{status}" in TEXT["en"] else status
    name = str(
        row.get("name", "") or ((doc.get("metrics") or {}).get("dealer") or {}).get("name", "")
    )
    cells = [
        _cell(esc(did), did),
        _cell(esc(name), name, cls="name"),
        _cell(
            esc(st_text),
            status,
            "st",
            style=f"color:{_STATUS_COLOUR.get(status, '#000')};font-weight:600",
        ),
        _cell(_link_cell(row, run_dir, lang), "", "links"),
    ]
    if status in ("failed", "timeout"):
        msg = f"{esc(str(row.get('error') or ''))}<br><b>{_fix_html(_fix_text(row, lang))}</b>"
        cells.append(f"<td class='err' colspan='{len(KPI_KEYS) + 1}'><div>{msg}</div></td>")
    else:
        cells += [_gap_cell(doc, bench, lang), *_kpi_cells(doc, lang)]
    return "<tr>" + "".join(cells) + "</tr>"


def _fix_html(text: str) -> str:
    """Escape a fix text; its `command` spans become <code>."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _period_line(docs: Sequence[Mapping[str, Any]], lang: str) -> str:
    periods = sorted({tuple(d["metrics"]["period"]) for d in docs if d.get("metrics")})
    dates = sorted({d["metrics"]["dealer"].get("as_of", "") for d in docs if d.get("metrics")})
    if not periods:
        return ""

    def span(values: list[str]) -> str:
        if len(set(values)) == 1:
            return values[0]
        return t("idx_various", lang, first=min(values), last=max(values))

    per = (
        f"{periods[0][0]} – {periods[0][1]}"
        if len(periods) == 1
        else t("idx_various", lang, first=periods[0][0], last=periods[-1][1])
    )
    return t("idx_period", lang, period=per, as_of=span(dates))


def write_index(
    path: str | os.PathLike[str],
    rows: Sequence[Mapping[str, Any]],
    *,
    language: str = "en",
    run_dir: str | os.PathLike[str] | None = None,
    title: str | None = None,
    extra_links: Sequence[tuple[str, str]] = (),
    meta: Mapping[str, Any] | None = None,
    network: Mapping[str, Any] | None = None,
) -> Path:
    """Write the run's ``index.html``: the network scorecard, one row per dealer.

    Per dealer: id, name, status, every headline KPI coloured red / amber / green against the
    dealer's targets (:func:`~crm_analytics.report.headline.kpi_status`), the biggest gap in
    yuan (against target or peers, :func:`~crm_analytics.report.headline.gaps_in_yuan`), links
    to the report, the other notebooks and the workbooks, and for a failed dealer the error
    and the fix. Columns sort on a click. Every data string is HTML-escaped.

    Parameters
    ----------
    rows
        The manifest's dealers: mappings with ``dealer_id``, ``name``, ``status``, ``link``
        (report, or the failure page), ``error``, ``notebooks`` (manifest rows) and
        ``outputs`` (name -> path relative to the run folder).
    language
        ``zh`` or ``en`` (the network's language).
    run_dir
        The run folder: each dealer's ``metrics.json`` (KPIs, targets, period) and the peer
        benchmark are read from it; without it only status and links are shown.
    title
        Page title (default: the network scorecard's, in ``language``).
    extra_links
        (name, relative path) shown above the table; a name with a text ``nb_<name>`` is
        translated (e.g. ``network_overview``).
    meta
        ``executed`` and ``run_time`` of the run.
    network
        The network overview's manifest row when it failed (its error is shown).
    """
    esc = html.escape
    lang = "zh" if language == "zh" else "en"
    rdir = Path(run_dir) if run_dir is not None else None
    bench = load_benchmark(rdir / "network" / "benchmark.json") if rdir is not None else None
    title = title or t("idx_title", lang)
    docs = [_dealer_doc(rdir, str(r.get("dealer_id", ""))) for r in rows]
    n_fail = sum(r.get("status") in ("failed", "timeout") for r in rows)
    n_ok = sum(r.get("status") in ("ok", "skipped") for r in rows)
    parts = [
        f"<!DOCTYPE html><html lang='{'zh-CN' if lang == 'zh' else 'en'}'><head>"
        "<meta charset='utf-8'><meta name='viewport' content='width=device-width'>",
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    period = _period_line(docs, lang)
    if period:
        parts.append(f"<p><b>{esc(period)}</b></p>")
    parts.append(f"<p>{esc(t('idx_counts', lang, n=len(rows), ok=n_ok, failed=n_fail))}</p>")
    if extra_links:
        parts.append(
            "<p>"
            + " · ".join(
                f"<a href='{esc(href, quote=True)}'>"
                f"{esc(t(f'nb_{n}', lang) if f'nb_{n}' in TEXT['en'] else n)}</a>"
                for n, href in extra_links
            )
            + "</p>"
        )
    if network:
        msg = t("idx_network_failed", lang, error=str(network.get("error") or ""))
        parts.append(f"<p style='color:#cf222e'>{esc(msg)}</p>")
    legend = t("idx_rag", lang, tol=AMBER_WITHIN)
    parts.append(
        "<p class='legend'>"
        + "".join(
            f"<span style='{v}'>{esc(t(f'rag_{k}', lang))}</span>" for k, v in _RAG_STYLE.items()
        )
        + f"{esc(legend)}</p>"
    )
    heads = [
        t("idx_dealer", lang),
        t("idx_name", lang),
        t("idx_status", lang),
        t("idx_links", lang),
        t("idx_gap", lang),
        *(label(k, lang) for k in KPI_KEYS),
    ]
    parts.append(
        "<div class='wrap'><table><thead><tr>"
        + "".join(f"<th data-k='{i}'>{esc(h)}</th>" for i, h in enumerate(heads))
        + "</tr></thead><tbody>"
    )
    parts.extend(_dealer_row(r, rdir, bench, lang) for r in rows)
    parts.append("</tbody></table></div>")
    if meta:
        written = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        parts.append(
            "<p class='meta'>"
            + esc(
                t(
                    "idx_written",
                    lang,
                    when=written,
                    executed=meta.get("executed", ""),
                    run_time=meta.get("run_time", ""),
                )
            )
            + "</p>"
        )
    parts.append(f"<script>{_SORT_JS}</script></body></html>\n")
    return atomic_write_text("".join(parts), path)
