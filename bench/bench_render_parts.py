"""The render stage's two file writers beside the libraries' own ways, in one process.

    PYTHONPATH=$PWD python bench/bench_render_parts.py [--run bench/out/run_10x20000] [--repeat 3]

On one dealer of a finished run folder (``bench/bench_network_run.py`` leaves one):

* **workbooks**: the dealer's call-list and fix-list sheets (masked and defused as the run
  writes them) through pandas' ``ExcelWriter`` with openpyxl (the reference, what the run
  used before) and through :func:`crm_analytics.data.export.write_table` (xlsxwriter, cell by
  type); the cells read back equal;
* **HTML export**: the dealer's executed notebooks through nbconvert's ``HTMLExporter`` (the
  reference) and the run's exporter (nbconvert without its BeautifulSoup re-parse); the pages
  parse to the same tree.

CPU seconds, best of ``--repeat``, and the ratios.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def main() -> int:
    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter

    from crm_analytics.batch import export
    from crm_analytics.data import export as data_export
    from crm_analytics.report import outputs
    from crm_analytics.report.analysis import load_analysis
    from crm_analytics.report.display import neutralize_active_html

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, default=ROOT / "bench" / "out" / "run_10x20000")
    p.add_argument("--dealer", default=None, help="default: the run's first dealer")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    dealers = sorted(d.parent.name for d in args.run.glob("*/analysis.pkl"))
    if not dealers:
        sys.exit(f"no dealer analysis in {args.run}: run bench/bench_network_run.py --dealers 10")
    did = args.dealer or dealers[0]
    analysis = load_analysis(args.run / did / "analysis.pkl")
    out = Path(tempfile.mkdtemp())

    # the sheets exactly as write_action_workbooks hands them to write_table
    calls: list[tuple[dict[str, pd.DataFrame], dict]] = []
    original = outputs.write_table

    def capture(frames, path, **kw):
        calls.append((dict(frames), kw))
        return original(frames, path, **kw)

    outputs.write_table = capture
    outputs.write_action_workbooks(analysis, out)
    outputs.write_table = original
    prepared = []
    for frames, kw in calls:
        sheets = {}
        for name, frame in frames.items():
            safe = data_export._prepare(
                data_export._dates_as_text(frame),
                contact=kw.get("contact", False),
                phone_columns=kw.get("phone_columns"),
                name_columns=kw.get("name_columns"),
            )
            sheets[data_export.sheet_name(name, sheets)] = safe
        prepared.append(sheets)
    cells = sum(f.size for sheets in prepared for f in sheets.values())

    def reference_workbooks() -> None:
        for i, sheets in enumerate(prepared):
            with pd.ExcelWriter(out / f"ref{i}.xlsx", engine="openpyxl") as xw:
                for name, frame in sheets.items():
                    frame.to_excel(xw, sheet_name=name, index=False)

    def our_workbooks() -> None:
        for i, sheets in enumerate(prepared):
            data_export._write_xlsx(sheets, out / f"ours{i}.xlsx")

    t_ref, t_ours = best(reference_workbooks, args.repeat), best(our_workbooks, args.repeat)
    for i in range(len(prepared)):
        a = pd.read_excel(out / f"ref{i}.xlsx", sheet_name=None)
        b = pd.read_excel(out / f"ours{i}.xlsx", sheet_name=None)
        assert list(a) == list(b) and all(a[k].equals(b[k]) for k in a), "cells differ"
    print(
        f"workbooks of {did} ({sum(len(s) for s in prepared)} sheets, {cells:,} cells): "
        f"pandas+openpyxl {t_ref:.2f} s, write_table {t_ours:.2f} s, {t_ref / t_ours:.1f}x"
    )

    nbs = []
    for path in sorted((args.run / did).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nb.cells = [
            c
            for c in nb.cells
            if not export.HIDDEN_TAGS & set(c.get("metadata", {}).get("tags", []))
        ]
        neutralize_active_html(nb)
        nbs.append(nb)
    stock = HTMLExporter(
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_output_stdin=True,
    )
    ours = export._exporter()
    stock.from_notebook_node(copy.deepcopy(nbs[0]))  # templates loaded before timing
    ours.from_notebook_node(copy.deepcopy(nbs[0]))
    t_ref = best(lambda: [stock.from_notebook_node(copy.deepcopy(nb)) for nb in nbs], args.repeat)
    t_ours = best(lambda: [ours.from_notebook_node(copy.deepcopy(nb)) for nb in nbs], args.repeat)
    for nb in nbs:
        a, _ = stock.from_notebook_node(copy.deepcopy(nb))
        b, _ = ours.from_notebook_node(copy.deepcopy(nb))
        assert str(BeautifulSoup(a, "html.parser")) == str(BeautifulSoup(b, "html.parser"))
    print(
        f"HTML export of {did}'s {len(nbs)} notebooks: nbconvert {t_ref:.2f} s, "
        f"ours {t_ours:.2f} s, {t_ref / t_ours:.1f}x (same page)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
