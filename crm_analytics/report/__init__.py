"""Per-dealer diagnostic reports: parameters, headline metrics, HTML export, batch runner.

Modules: :mod:`.params` (YAML validation), :mod:`.metrics` (headline KPIs, peer benchmark,
gaps in yuan, metrics JSON), :mod:`.display` (escaped HTML for notebooks), :mod:`.text`
(zh / en wording), :mod:`.notebook` (the opening every dealer notebook shares),
:mod:`.export` (HTML export, ``index.html``), :mod:`.runner` (papermill on a
process pool or a Dask cluster; ``crm-analytics report``). Nothing is imported eagerly.
"""
