"""Data quality: authenticity, continuity, validity; front-desk visitor log vs DMS reconciliation.

The deck's CRM department keeps the data **authentic** [真实性], **continuous** [连贯性] and
**valid** [有效性], and cross-checks the front desk's hand cards and showroom traffic register
against the DMS (DIGEST sections 3-5). Three entry points:

* :func:`reconcile_visits` links every front-desk sales arrival to the DMS visit it should
  have produced (Fellegi-Sunter record linkage with splink on DuckDB, see
  :mod:`crm_analytics.data.linkage`) and returns the matched pairs with their match weight, the
  walk-ins never registered in the DMS, the arrivals of known prospects whose visit was not
  entered, the DMS visits with no front-desk arrival (possible fabrication), all per consultant,
  and every odd log row with the reason it is odd.
* :func:`quality_scorecard` scores each table on the three dimensions. Every rule is one record
  of the registry :data:`REGISTRY` (dimension, table, what it checks in English and Chinese,
  the function that finds its failures, the fix-list issues and who fixes them; the table of
  rules is ``docs/quality_rules.md``, generated from it); each rule's pass rate
  ``100 * (1 - failed / checked)`` becomes its score through a tolerance (``100 * max(0,
  1 - failure rate / tolerance)``: 0 once 10% of its records fail, by default), and a
  dimension's score is the weighted mean of its rules' scores, with a red / amber / green
  status and the worst rules named (:mod:`~crm_analytics.metrics.quality.scoring`; weights,
  tolerances and thresholds in ``params/quality.yaml``). Validity builds on the boundary validation
  (:mod:`crm_analytics.data.validation`): it counts the quarantined rows per table and rule instead
  of re-checking them.
* :func:`fix_list` lists the records to send back for correction, per consultant, and
  :func:`export_fix_list` writes one CSV per consultant or one Excel sheet per consultant.

Why splink: on the simulator's defect dealer (6,000 customers) a clerk's rule (same day, same
consultant, nearest time within 30 minutes, one-to-one) is as accurate as splink when the
front desk writes every consultant and time correctly (pairs precision and recall 0.993 vs
0.994), but when 10% of arrivals carry the wrong consultant and 10% a time off by 40-90
minutes, the rule's recall falls to 0.81 and its phantom precision to 0.10, while splink keeps
0.982 / 0.982 and 1.00, because it also weighs phone and name agreement
(``bench/bench_quality.py``). A 104,194-row visitor log reconciles in about 7 s on the 2-core
machine.

Modules: ``params`` (:class:`QualityParams`), ``common`` (features shared by the
reconciliation and the rules), ``reconcile`` (:func:`reconcile_visits`), ``rule`` (what a rule
is), ``authenticity`` / ``continuity`` / ``validity`` (the rules' checks), ``registry`` (the
rules), ``scorecard`` (:func:`quality_scorecard`), ``fixes`` (:func:`fix_list`,
:func:`export_fix_list`).

Personal data (names, phones) is masked in every output (``138****5678``, ``张*``) unless a
contact list for staff is asked for explicitly (``fix_list(dealer, contacts=True)``).
"""

from __future__ import annotations

from crm_analytics.metrics.quality.fixes import FIX_COLUMNS, export_fix_list, fix_list, fix_list_in
from crm_analytics.metrics.quality.params import QualityParams
from crm_analytics.metrics.quality.reconcile import Reconciliation, reconcile_visits
from crm_analytics.metrics.quality.registry import ACTIONS, REGISTRY, RULES, rules_markdown
from crm_analytics.metrics.quality.rule import DIMENSIONS, FLAG_COLUMNS, Fix, Rule
from crm_analytics.metrics.quality.scorecard import Scorecard, quality_scorecard

__all__ = [
    "ACTIONS",
    "DIMENSIONS",
    "FIX_COLUMNS",
    "FLAG_COLUMNS",
    "REGISTRY",
    "RULES",
    "Fix",
    "QualityParams",
    "Reconciliation",
    "Rule",
    "Scorecard",
    "export_fix_list",
    "fix_list",
    "fix_list_in",
    "quality_scorecard",
    "reconcile_visits",
    "rules_markdown",
]
