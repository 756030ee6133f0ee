"""A dealer's analysis, computed once: what every view of the dealer shows.

One :class:`DealerAnalysis` holds the dealer (read from the store once), its settings (resolved
once), its headline metrics, the fitted churn model and its scores, the lead scores, the call
lists and the data-quality scorecard. A batch run builds it in the dealer stage
(:func:`analyse_dealer`), completes it in the network stage (the pooled lead model and, for a
small dealer, the network churn model: :func:`score_with_network`), and saves it into the run
folder (:func:`save_analysis`); every notebook of the dealer opens that file
(:func:`load_analysis`), so the report, the churn notebook and the action lists show the same
risk bands and KPIs. Interactively, :func:`crm_analytics.report.notebook.open_analysis` builds
it on the spot when no run holds it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from crm_analytics.actions.call_lists import call_lists
from crm_analytics.actions.external_lists import external_list_calls
from crm_analytics.core.config import Settings, external_list_path, load_params
from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import ConvergenceError, InputError, InsufficientDataError
from crm_analytics.core.files import read_pickle, write_pickle
from crm_analytics.core.frames import isin
from crm_analytics.data.dms import read_name_list
from crm_analytics.data.privacy import mask_frame
from crm_analytics.data.store import read_table
from crm_analytics.metrics import (
    attribution,
    complaints,
    funnel,
    key_accounts,
    lifecycle,
    pacing,
    penetration,
    quality,
    service_retention,
    speed_to_lead,
)
from crm_analytics.metrics import contact as desk
from crm_analytics.metrics import crm_department as crm_reports
from crm_analytics.metrics.external_lists import external_list_summary, screen_external_lists
from crm_analytics.metrics.forecast import backtest_forecast, backtest_summary, forecast_orders
from crm_analytics.models import clv
from crm_analytics.models.btyd import NetworkPrior
from crm_analytics.models.churn import ChurnModel
from crm_analytics.models.churn import backtest as churn_backtest
from crm_analytics.models.leads import LeadScoreModel, snapshot_cutoffs
from crm_analytics.models.personas import (
    PersonaModel,
    describe_personas,
    persona_crosstab,
    persona_features,
)
from crm_analytics.models.renewal import fit_dealer_renewal, renewal_what_if
from crm_analytics.models.scoring import FrameCache
from crm_analytics.report.headline import consultant_table, dealer_metrics, resolve_periods

__all__ = [
    "ANALYSIS_FILE",
    "NETWORK_SCORES_FILE",
    "DealerAnalysis",
    "ScoringFrames",
    "analyse_dealer",
    "churn_cutoffs",
    "diagnosis_with_maturity",
    "external_lists",
    "lead_cutoffs",
    "load_analysis",
    "save_analysis",
    "save_network_scores",
    "score_with_network",
]

#: The analysis file of a dealer in a run folder: ``<run>/<dealer>/analysis.pkl``.
ANALYSIS_FILE = "analysis.pkl"
#: Beside it, what the run's network stage added (:func:`save_network_scores`): the dealer's
#: analysis is written once, by the dealer stage, and read with this part by
#: :func:`load_analysis`.
NETWORK_SCORES_FILE = "network_scores.pkl"
#: The fields :func:`score_with_network` sets, kept in :data:`NETWORK_SCORES_FILE` (the pooled
#: lead model itself is kept once per run, in the run's ``network/`` folder).
_NETWORK_FIELDS = ("lead_scores", "lead_note", "churn_model", "churn_scores", "churn_source")
#: The call-list workbook of a dealer in a run folder: ``<run>/<dealer>/call_lists.xlsx``
#: (written by :mod:`crm_analytics.report.outputs`, linked by the report and the index).
CALL_LISTS_FILE = "call_lists.xlsx"
#: The data-quality fix-list workbook: ``<run>/<dealer>/fix_list.xlsx``.
FIX_LIST_FILE = "fix_list.xlsx"
#: The horizon of the report's customer lifetime values and owner-base projection (months).
CLV_MONTHS = 36
#: The owner-base projection's interval: 80 %, as the orders forecast beside it in the report.
PROJECTION_LEVEL = 0.8
#: The journey window of the attribution page (days before each order or the data date).
ATTRIBUTION_LOOKBACK_DAYS = 90
#: The fewest journeys an age group needs for its channel effects to be shown.
PERSONA_MIN_JOURNEYS = 30
Period = tuple[pd.Timestamp, pd.Timestamp]


def churn_cutoffs(as_of: pd.Timestamp) -> list[pd.Timestamp]:
    """Training dates of the churn model: 12, 15 and 18 months before the data date (each
    needs a year of follow-up)."""
    return [pd.Timestamp(as_of) - pd.DateOffset(months=12 + 3 * k) for k in range(3)]


def lead_cutoffs(as_of: pd.Timestamp) -> list[pd.Timestamp]:
    """Snapshot dates of the lead model: every 28 days from 15 to 3 months before the data date
    (each needs 90 days of follow-up)."""
    as_of = pd.Timestamp(as_of)
    return snapshot_cutoffs(
        as_of - pd.DateOffset(months=15), as_of - pd.DateOffset(months=3), every_days=28
    )


@dataclass
class ScoringFrames:
    """A dealer's training rows and current rows of one model, for the network stage."""

    train_X: pd.DataFrame
    train_y: Any
    now_X: pd.DataFrame


@dataclass
class DealerAnalysis:
    """Everything the views of one dealer show, computed once (see the module notes).

    Attributes
    ----------
    dealer, settings
        The dealer's data (validated, quarantine included) and its resolved settings.
    period, comparison
        The analysis period and the previous coaching round (inclusive dates).
    metrics
        :func:`crm_analytics.report.headline.dealer_metrics` (JSON-safe).
    calls
        The standing call lists at the data date (:func:`crm_analytics.actions.call_lists.call_lists`),
        dormant owners from the state table, ranked by the churn model and the CLV
        (:func:`call_list_scores`).
    churn_model, churn_scores, churn_source, churn_note
        The churn model (the dealer's own, or the network's for a small dealer), the scores of
        every active customer, ``"dealer"`` / ``"network"`` / ``""`` and why (when not own).
    lead_model, lead_scores, lead_note
        The pooled network lead model and this dealer's open leads scored with it (an analysis
        read from a run has the scores and no model: the run keeps the model once, in
        ``network/models.pkl``, not in every dealer's files).
    run_dir
        The run folder this analysis was read from (``""``: analysed outside a run).
    reconciliation, scorecard
        Visitor-log reconciliation and data-quality scorecard (unmasked: masking is the view's
        job).
    speed_to_lead
        First response to inbound leads (:mod:`crm_analytics.metrics.speed_to_lead`):
        ``distribution`` (per channel), ``bands`` (conversion by response band), ``effect``
        (fast against slow, stratified by channel; empty with a note in ``speed_to_lead_note``
        when the dealer has too few leads) and ``event_leads`` (the inbound leads captured at
        the dealer's events, face to face, left out of all three).
    complaints
        Complaint handling (:mod:`crm_analytics.metrics.complaints`, service levels from
        ``Settings.section("lifecycle")["complaints"]``): ``counts`` (category by stage),
        ``handling`` (per category), ``retention`` (resolved against unresolved; empty with a
        note in ``complaints_note`` when either group is empty).
    pacing
        Month-to-date pacing of leads, orders and deliveries in the data date's month
        (:func:`crm_analytics.metrics.pacing.month_to_date_pacing`, ``params/targets.yaml``
        ``pacing``).
    btyd_prior
        The network's priors the CLV section's visit (BG/NBD) and spend (Gamma-Gamma) models
        were fitted with (:func:`fit_btyd_prior`; None, or None for one model: the dealer's
        data alone, the visit model with the small-dealer penalty retries of
        :func:`crm_analytics.models.clv.fit_visit_model`).
    service_mix
        After-sales by vehicle age (:mod:`crm_analytics.metrics.service_retention`):
        ``retention`` (vehicles sold here, by age cohort, last 12 months) and ``pay_mix``
        (customer-pay against maker-paid work in the analysis period, by age at the visit).
    """

    dealer: DealerData
    settings: Settings
    period: Period
    comparison: Period
    metrics: dict[str, Any]
    calls: pd.DataFrame
    reconciliation: Any
    scorecard: Any
    churn_model: ChurnModel | None = None
    churn_backtest: Any = None
    churn_scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    churn_source: str = ""
    churn_note: str = ""
    lead_model: LeadScoreModel | None = None
    lead_scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    lead_note: str = ""
    run_dir: str = ""
    churn_frames: ScoringFrames | None = None
    lead_frames: ScoringFrames | None = None
    speed_to_lead: dict[str, Any] = field(default_factory=dict)
    speed_to_lead_note: str = ""
    complaints: dict[str, pd.DataFrame] = field(default_factory=dict)
    complaints_note: str = ""
    service_mix: dict[str, pd.DataFrame] = field(default_factory=dict)
    pacing: pd.DataFrame = field(default_factory=pd.DataFrame)
    tree: pd.DataFrame = field(default_factory=pd.DataFrame)
    diagnosis: pd.DataFrame = field(default_factory=pd.DataFrame)
    maturity: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    btyd_prior: clv.BasePriors | None = None

    def flagged_stages(self) -> list[str]:
        """The funnel stages the diagnosis flags, in rank order (largest orders at stake first)."""
        d = self.diagnosis
        if d.empty:
            return []
        return list(d.loc[d["flagged"], "stage"].drop_duplicates())

    @property
    def dealer_id(self) -> str:
        """The dealer's id."""
        return self.dealer.dealer_id

    def call_lists(self, *, masked: bool = True) -> pd.DataFrame:
        """The call lists, phones and names masked unless ``masked=False`` (contact lists)."""
        if not masked:
            return self.calls.copy()
        out = mask_frame(
            self.calls, phone_columns=["customer_phone"], name_columns=["customer_name"]
        )
        out.attrs.update(self.calls.attrs, contact=False)
        return out

    def fix_list(self, *, masked: bool = True) -> pd.DataFrame:
        """The data-quality fix list (:func:`crm_analytics.metrics.quality.fix_list`), phones
        and names masked unless ``masked=False`` (lists for staff who call customers); empty
        when it could not be built (``notes["fix_list"]`` says why)."""
        fixes = self.sections.get("fix_list")
        if fixes is None:
            return pd.DataFrame(columns=quality.FIX_COLUMNS)
        if not masked:
            return fixes.copy()
        out = mask_frame(fixes, phone_columns=["phone", "other_phone"], name_columns=["name"])
        out.attrs.update(fixes.attrs, contact=False)
        return out

    def staff_names(self) -> dict[str, str]:
        """Staff id -> name (staff without a name left out)."""
        staff = self.dealer.staff
        if not len(staff) or "name" not in staff.columns:
            return {}
        staff = staff[staff["name"].notna()]
        return dict(zip(staff["staff_id"].astype(str), staff["name"].astype(str), strict=True))

    def band_counts(self) -> pd.Series:
        """Active customers per churn-risk band (high, medium, low; zeros included)."""
        bands = self.churn_scores.get("risk_band", pd.Series(dtype=object))
        return bands.value_counts().reindex(["high", "medium", "low"], fill_value=0)

    def without_frames(self) -> DealerAnalysis:
        """This analysis without the training rows (kept only until the network stage)."""
        self.churn_frames = None
        self.lead_frames = None
        return self


def _fit_churn(dealer: DealerData, analysis: DealerAnalysis) -> None:
    model = ChurnModel()
    frames: FrameCache = {}  # the backtest's evaluation date is a training date: computed once
    X, y = model.training_frame(dealer, churn_cutoffs(dealer.as_of), frames=frames)
    now = model.scoring_frame(dealer)
    analysis.churn_frames = ScoringFrames(X, y, now)
    try:
        model.fit(X, y)
    except InsufficientDataError as err:
        analysis.churn_note = str(err)
        return
    analysis.churn_model = model
    analysis.churn_scores = model.score_rows(now, dealer.dealer_id)
    analysis.churn_source = "dealer"
    try:  # trained before, evaluated 12 months before the data date, against baselines
        analysis.churn_backtest = churn_backtest(
            dealer,
            cutoffs=[dealer.as_of - pd.DateOffset(months=12)],
            n_train_cutoffs=3,
            frames=frames,
        )
    except InsufficientDataError as err:
        analysis.churn_note = str(err)


def _lead_frames(dealer: DealerData) -> ScoringFrames:
    model = LeadScoreModel()
    X, Y = model.training_frame(dealer, lead_cutoffs(dealer.as_of))
    return ScoringFrames(X, Y, model.scoring_frame(dealer))


def analyse_dealer(
    dealer: DealerData, settings: Settings, *, btyd_prior: clv.BasePriors | None = None
) -> DealerAnalysis:
    """The dealer stage: metrics, call lists, data quality and the dealer's own churn model.

    The lead scores (and the churn scores of a dealer too small for its own model) come from
    the network stage (:func:`score_with_network`); until then ``lead_scores`` is empty and the
    training rows the network models need are kept on the analysis.
    """
    # BLAS on one thread: the analysis's BLAS calls are small (matrix-vector products inside
    # optimisers and EM loops), and idle BLAS threads spinning between them cost more CPU than
    # the products themselves (twice the survival model's fit time on a busy machine)
    with threadpool_limits(limits=1, user_api="blas"), funnel.shared_journeys():
        return _analyse_dealer(dealer, settings, btyd_prior)


def _analyse_dealer(
    dealer: DealerData, settings: Settings, btyd_prior: clv.BasePriors | None
) -> DealerAnalysis:
    if settings.dealer_id not in (None, dealer.dealer_id):
        raise InputError(
            f"settings are for dealer {settings.dealer_id!r}, the data for {dealer.dealer_id!r}"
        )
    period, comparison = resolve_periods(dealer.as_of, settings.period, settings.comparison_period)
    reconciliation = quality.reconcile_visits(dealer, mask=False)
    analysis = DealerAnalysis(
        dealer=dealer,
        settings=settings,
        period=period,
        comparison=comparison,
        metrics={},
        calls=pd.DataFrame(),
        reconciliation=reconciliation,
        scorecard=quality.quality_scorecard(dealer, reconciliation=reconciliation, mask=False),
        btyd_prior=btyd_prior,
    )
    _fit_churn(dealer, analysis)
    # the customer values first: the call lists take their dormant owners from the state
    # table and rank by the churn model and the CLV (masked by the views: see
    # DealerAnalysis.call_lists)
    analysis.sections, analysis.notes = value_sections(analysis)
    analysis.calls = call_lists(
        dealer,
        contact=True,
        scores=call_list_scores(analysis),
        states=analysis.sections.get("lifecycle"),
    )
    analysis.metrics = dealer_metrics(
        dealer,
        period=settings.period,
        comparison_period=settings.comparison_period,
        calls=analysis.calls,
    )
    analysis.lead_frames = _lead_frames(dealer)
    _speed_to_lead(dealer, analysis)
    _complaints(dealer, settings, analysis)
    analysis.service_mix = {
        "retention": service_retention.retention_by_vehicle_age(
            dealer.vehicles, dealer.service_visits, as_of=dealer.as_of, sold_here_only=True
        ),
        "pay_mix": service_retention.pay_mix(dealer.service_visits, dealer.vehicles, period=period),
    }
    analysis.pacing = _pacing(dealer)
    analysis.tree, analysis.diagnosis, analysis.maturity = diagnosis_with_maturity(
        dealer, period, settings.funnel_targets(), reconciliation=reconciliation
    )
    analysis.sections, analysis.notes = report_sections(analysis)
    return analysis


def _section(out: dict[str, Any], notes: dict[str, str], name: str, fn: Any) -> None:
    """``out[name] = fn()``; a dealer whose data cannot give it gets a note instead."""
    try:
        out[name] = fn()
    except (InsufficientDataError, InputError, ValueError, ConvergenceError) as err:
        notes[name] = str(err)  # a small dealer's model that cannot converge: a note, no crash


def _clv_summary(dealer: DealerData, priors: clv.BasePriors | None) -> dict[str, Any]:
    models = clv.fit_base_models(
        dealer,
        network_prior=priors.visits if priors else None,
        spend_prior=priors.spend if priors else None,
    )
    pclv = clv.probabilistic_clv(models, horizon_months=CLV_MONTHS)
    projection = clv.project_customer_base(
        models, months=CLV_MONTHS, n_sims=100, level=PROJECTION_LEVEL
    )
    return {
        "models": models,
        "clv": pclv,
        "value_chain": clv.value_chain_clv(),
        "owners": len(pclv),
        "total": float(pclv["clv"].sum()),
        "mean": float(pclv["clv"].mean()) if len(pclv) else float("nan"),
        "alive": float(pclv["p_alive"].sum()),
        "projection": projection,
    }


def _renewal(
    dealer: DealerData, period: Period, target: float | None, rate: float | None
) -> dict[str, Any]:
    """Insurance renewals on the contractual (sBG) model and the deck's renewal what-if.

    A new customer's expected renewals over the value chain's renewal years at the fitted
    model, and, when the period's renewal rate (the ``insurance_renewal_rate`` KPI, ``rate``)
    is below its ``target``, with the first renewal lifted in the same proportion
    (``r_1 * target / rate``): the KPI and the model count renewals differently (every policy
    due that the DMS knows of, against consecutive renewals of first policies sold here), so
    the what-if moves the model by the KPI's own gap, and says nothing when the KPI meets its
    target. Priced at the dealer's own mean margin per renewal sold here (the value chain's
    unit value when it sold none), per new owner and per year for the first policies sold
    here in the period."""
    model = fit_dealer_renewal(dealer)
    line = clv.value_chain_clv().set_index("line").loc["insurance_renewal"]
    pol = dealer.insurance_policies
    sold = pol[pol["sold_by_this_dealer"]]
    margins = sold.loc[sold["renewal"], "margin"]
    unit = float(margins.mean()) if len(margins) else float(line["unit_value"])
    years = int(line["years"])
    first_rate = float(model.retention_rate(1))
    known = target is not None and rate is not None and pd.notna(rate) and rate > 0
    aim = min(first_rate * float(target) / float(rate), 0.99) if known else None
    if aim is not None and aim <= first_rate:  # the KPI meets its target
        aim = None
    w = renewal_what_if(model, target_rate=aim or first_rate, periods=years, unit_margin=unit)
    in_period = (sold["start"] >= period[0]) & (sold["start"] < period[1] + pd.Timedelta(days=1))
    new = int((~sold["renewal"] & in_period).sum())
    return {
        **w,
        "target_rate": aim,
        "target": float(target) if target is not None else None,
        "rate": float(rate) if rate is not None and pd.notna(rate) else None,
        "unit_margin": unit,
        "vehicles": model.n_customers_,
        "new_customers": new,
        "gain_per_year": w["gain_per_customer"] * new if aim else float("nan"),
        "model": model,
    }


#: The number of personas of the report and the personas notebook.
N_PERSONAS = 4
#: Most customers the persona model is fitted on (a seeded sample; every customer is profiled).
PERSONA_FIT_SAMPLE = 4000


def _personas(dealer: DealerData) -> dict[str, Any]:
    """The latent-class personas of every known customer: the fitted model, its features and
    each persona's profile (:func:`crm_analytics.models.personas.describe_personas`)."""
    X = persona_features(dealer, population="customers")
    # personas describe the population: fitted on a seeded sample of at most
    # PERSONA_FIT_SAMPLE customers (a large dealer's full fit takes minutes), profiled on all
    fit_on = X.sample(PERSONA_FIT_SAMPLE, random_state=0) if len(X) > PERSONA_FIT_SAMPLE else X
    model = PersonaModel(N_PERSONAS, random_state=0, n_init=2).fit(fit_on)
    # persona x lead channel and x car model, over the customers who came through a lead
    # (owners known only from service visits have no channel)
    labels = model.predict(X)
    known = X["channel"].notna().to_numpy()
    return {
        "model": model,
        "X": X,
        "profile": describe_personas(model, X),
        "crosstab": persona_crosstab(X[known], labels[known], by=("channel", "model")),
    }


def crm_desk(
    dealer: DealerData, settings: Settings, period: tuple[pd.Timestamp, pd.Timestamp]
) -> dict[str, Any]:
    """The CRM desk's own work in ``period`` and the lost contacts on the data date
    (:mod:`crm_analytics.metrics.contact`, limits from ``Settings.section("lifecycle")
    ["contact"]``): ``work`` (per list and owner), ``coverage`` (delivery callbacks and
    interviews), ``surveys`` (the response rate of each survey kind), ``lost`` (the re-contact list, unmasked: the views mask it), ``share``
    (the unreachable share of the base), ``params`` and ``period``."""
    prm = settings.section_dict("lifecycle")["contact"]  # kept in the pickled analysis
    att = desk.call_attempts(
        dealer,
        callback_window_days=float(prm["callback_window_days"]),
        dormant_days=float(prm["dormant_days"]),
    )
    if not len(att):
        raise InsufficientDataError(
            f"dealer {dealer.dealer_id}: only 0 call attempts (touchpoints of kind call); the "
            "desk's work needs at least one. Map the DMS call records to kind call."
        )
    lost = desk.lost_contacts(
        dealer,
        no_answer_streak=int(prm["no_answer_streak"]),
        no_answer_days=float(prm["no_answer_days"]),
        contact=True,
    )
    return {
        "params": prm,
        "period": period,
        "work": desk.desk_work(dealer, att, convert_days=float(prm["convert_days"]), period=period),
        "coverage": desk.delivery_coverage(
            dealer,
            att,
            callback_days=float(prm["callback_days"]),
            interview_days=float(prm["interview_days"]),
            period=period,
        ),
        "surveys": desk.survey_response(
            dealer,
            survey_days={
                "delivery_interview": float(prm["interview_days"]),
                **{k: float(v) for k, v in prm["survey_days"].items()},
            },
            period=period,
        ),
        "lost": lost,
        "share": desk.unreachable_share(dealer, lost),
    }


def external_lists(dealer: DealerData, settings: Settings) -> dict[str, Any]:
    """The dealer's external name lists (``settings.external_lists``) read and screened once:
    ``screened`` (every row, classified; unmasked), ``summary`` (per source), ``calls`` (the
    new rows as call-list rows of reason ``external_list``, issued on the data date; unmasked,
    masked by the views) and ``missing`` (per list file that could not be read: ``item``,
    ``source``, ``file`` and ``message`` with the fix). A dealer none of whose files can be
    read gets empty frames and the ``missing`` entries, not an error.
    """
    frames, missing = [], []
    for i, item in enumerate(settings.external_lists, 1):
        path = external_list_path(item["file"], settings.source)
        try:
            names = read_name_list(path)
        except InputError as err:
            missing.append(
                {
                    "item": i,
                    "source": item["source"],
                    "file": str(path),
                    "message": f"external_lists item {i}: {err}. Fix: put the file there or "
                    "correct 'file' in the dealer's params file (relative paths are relative "
                    "to the store folder)",
                }
            )
            continue
        frames.append(
            names[["row", "name", "phone"]].assign(
                list_id=f"{item['source']}:{Path(item['file']).name}",
                source=item["source"],
                received_at=pd.Timestamp(item["received"]),
                cost=item["cost"] if item["cost"] is not None else float("nan"),
            )
        )
    if not frames:
        empty = pd.DataFrame()
        return {"screened": empty, "summary": empty, "calls": empty, "missing": missing}
    screened = screen_external_lists(dealer, pd.concat(frames, ignore_index=True))
    calls = external_list_calls(dealer, screened, as_of=dealer.as_of, contact=True)
    return {
        "screened": screened,
        "summary": external_list_summary(screened),
        "calls": calls,
        "missing": missing,
    }


def _key_accounts(dealer: DealerData, settings: Settings) -> pd.DataFrame:
    """The key accounts found in the data (``params/lifecycle.yaml`` ``key_accounts``),
    unmasked (masking is the view's job)."""
    prm = settings.section("lifecycle")["key_accounts"]
    return key_accounts.key_accounts(
        dealer.customers,
        dealer.vehicles,
        dealer.orders,
        dealer.service_visits,
        dealer.touchpoints,
        as_of=dealer.as_of,
        min_vehicles=int(prm["min_vehicles"]),
        min_orders=int(prm["min_orders"]),
        service_months=int(prm["service_months"]),
    )


def _events(dealer: DealerData, settings: Settings) -> pd.DataFrame:
    """Each marketing event's leads, visits and orders within the follow-up window
    (``params/lifecycle.yaml`` ``events``)."""
    days = int(settings.section("lifecycle")["events"]["follow_up_days"])
    return key_accounts.event_results(
        dealer.events,
        dealer.leads,
        dealer.touchpoints,
        dealer.orders,
        as_of=dealer.as_of,
        follow_up_days=days,
    ).assign(follow_up_days=days)


def _profit(dealer: DealerData, period: Period, targets: Any) -> pd.DataFrame:
    """Profit per line with the what-if gain at the line's target penetration (when it has one)."""
    profit = penetration.profit_decomposition(dealer, period=period)
    lines = {
        "finance": "finance_penetration",
        "insurance": "insurance_penetration",
        "extended_warranty": "extended_warranty_penetration",
        "trade_in": "trade_in_penetration",
        "insurance_renewal": "insurance_renewal_rate",
    }
    gains = []
    for line in profit["line"]:
        to = targets.get(lines.get(line, ""))
        row = profit.loc[profit["line"] == line].iloc[0]
        ok = to is not None and pd.notna(row["penetration"]) and float(to) > row["penetration"]
        gains.append(
            float((float(to) - row["penetration"]) * row["contacts"] * row["unit_margin"])
            if ok
            else float("nan")
        )
    return profit.assign(
        target=[targets.get(lines.get(x, "")) for x in profit["line"]], what_if_gain=gains
    )


def value_sections(analysis: DealerAnalysis) -> tuple[dict[str, Any], dict[str, str]]:
    """The sections the call lists build on: each customer's lifecycle state (``lifecycle``:
    the recency rules of params/lifecycle.yaml, one state per customer, read by the state
    counts, the lifecycle page and the call lists alike), the state counts (``states``) and the
    after-sales CLV with its owner-base projection over :data:`CLV_MONTHS` (``clv``)."""
    dealer = analysis.dealer
    out: dict[str, Any] = {}
    notes: dict[str, str] = {}
    _section(out, notes, "lifecycle", lambda: lifecycle.lifecycle_states(dealer))
    states = out.get("lifecycle")
    if states is None:
        notes["states"] = notes["lifecycle"]
    else:
        out["states"] = lifecycle.state_counts(states)
    _section(out, notes, "clv", lambda: _clv_summary(dealer, analysis.btyd_prior))
    return out, notes


def call_list_scores(analysis: DealerAnalysis) -> pd.DataFrame | None:
    """The customer scores the call lists rank by (``call_lists(scores=)``): the churn
    model's probability (a customer's activity is 1 - P(churn) where scored, the recency rule
    elsewhere) and the after-sales CLV (a dormant owner's value at risk). None without either
    (a dealer whose churn model comes from the network stage is ranked on its CLV here)."""
    parts = []
    churn = analysis.churn_scores
    if len(churn) and "churn_probability" in churn:
        parts.append(churn.set_index("customer_id")["churn_probability"])
    clv = analysis.sections.get("clv")
    if clv is not None and len(clv["clv"]):
        parts.append(clv["clv"].set_index("customer_id")["clv"])
    if not parts:
        return None
    return pd.concat(parts, axis=1).rename_axis("customer_id").reset_index()


def report_sections(analysis: DealerAnalysis) -> tuple[dict[str, Any], dict[str, str]]:
    """What the report's sections show beyond the headline metrics and the customer values
    (:func:`value_sections`, kept), computed once per dealer: profit per line with its what-if,
    this month's order forecast, insurance renewal on the contractual (sBG) model with its
    what-if at target, satisfaction and defeat reasons, media by channel and by car model,
    consultants, the previous round's change, the fix list; and for the dealer's
    other pages the forecast's backtest, the funnel per channel, the lifecycle moves of the
    period, the attribution models, channel effects per age group and the channel-recall
    check. Returns ``(sections, notes)``; ``notes[name]`` says why a section is missing."""
    dealer, (start, end) = analysis.dealer, analysis.period
    out: dict[str, Any] = dict(analysis.sections)
    notes: dict[str, str] = dict(analysis.notes)
    targets = dict(analysis.settings.targets)
    _section(out, notes, "profit", lambda: _profit(dealer, (start, end), targets))
    _section(out, notes, "forecast", lambda: forecast_orders(dealer, n_sims=2000))
    renewal_rate = analysis.metrics.get("kpis", {}).get("insurance_renewal_rate")
    _section(
        out,
        notes,
        "renewal",
        lambda: _renewal(dealer, (start, end), targets.get("insurance_renewal_rate"), renewal_rate),
    )
    _section(out, notes, "personas", lambda: _personas(dealer))
    _section(out, notes, "csi", lambda: crm_reports.csi_by_stage(dealer))
    _section(out, notes, "defeat", lambda: crm_reports.defeat_pareto(dealer, since=start))
    _section(out, notes, "departments", lambda: crm_reports.department_efficiency(dealer))
    for by in ((), ("model",)):
        name = "media_by_" + (by[0] if by else "channel")
        _section(
            out,
            notes,
            name,
            lambda by=by: attribution.media_efficiency(dealer, by=by, period=(start, end)),
        )
    _section(out, notes, "consultants", lambda: consultant_table(dealer, start, end))
    # the CRM desk's own work and lost contacts (issue 17 items 4-5)
    _section(out, notes, "contact", lambda: crm_desk(dealer, analysis.settings, (start, end)))
    if analysis.settings.external_lists:  # issue 17 item 3: the lists named in the params
        _section(out, notes, "external_lists", lambda: external_lists(dealer, analysis.settings))
    for by in ("consultant", "model"):  # value-added penetration per group (issue 17 item 6)
        _section(
            out,
            notes,
            "penetration_by_" + by,
            lambda by=by: penetration.penetration_by(dealer, by, period=(start, end)),
        )
    # key accounts and marketing events (issue 17; DIGEST sections 5, 23-24, 48)
    _section(out, notes, "key_accounts", lambda: _key_accounts(dealer, analysis.settings))
    _section(out, notes, "events", lambda: _events(dealer, analysis.settings))
    _section(
        out,
        notes,
        "change",
        lambda: funnel.compare_periods(dealer, before=analysis.comparison, after=(start, end)),
    )
    # the fix list with contacts (masked by DealerAnalysis.fix_list)
    _section(
        out,
        notes,
        "fix_list",
        lambda: quality.fix_list(dealer, scorecard=analysis.scorecard, contacts=True),
    )
    # what the dealer's other pages show, computed here so that no notebook fits or
    # recomputes: the forecast's backtest, the channels' funnel, the lifecycle moves, the
    # attribution models, channel effects per age group and the channel-recall check
    _section(
        out, notes, "forecast_backtest", lambda: backtest_forecast(dealer, months=6, n_sims=500)
    )
    if "forecast_backtest" in out:  # its errors against the baselines, as the page shows them
        _section(
            out, notes, "forecast_accuracy", lambda: backtest_summary(out["forecast_backtest"])
        )
    _section(
        out,
        notes,
        "funnel_by_channel",
        lambda: funnel.kpi_tree(dealer, period=(start, end), by="channel"),
    )
    _section(out, notes, "transitions", lambda: lifecycle.transition_matrix(dealer, start, end))
    _section(
        out,
        notes,
        "attribution",
        lambda: attribution.attribute(
            attribution.journeys(dealer, lookback_days=ATTRIBUTION_LOOKBACK_DAYS)
        ),
    )
    _section(
        out,
        notes,
        "persona_channels",
        lambda: attribution.persona_channel_effects(
            dealer,
            by="age_band",
            lookback_days=ATTRIBUTION_LOOKBACK_DAYS,
            min_journeys=PERSONA_MIN_JOURNEYS,
        ),
    )
    _section(out, notes, "channel_recall", lambda: crm_reports.channel_recall_accuracy(dealer))
    return out, notes


def _maturity_params() -> tuple[int, frozenset[str]]:
    raw = load_params("targets").get("maturity") or {}
    return int(raw.get("days", 90)), frozenset(raw.get("kpis") or ())


def _immature_shares(dealer: DealerData, period: Period, days: int) -> dict[str, float]:
    """Shares of the period's cohort without ``days`` of follow-up at the data date: leads
    created, and orders placed (of those leads), within ``days`` of the data date."""
    start, end = period
    edge = pd.Timestamp(dealer.as_of) - pd.Timedelta(days=days)
    leads = dealer.leads
    created = leads["created_at"]
    cohort = leads.loc[(created >= start) & (created < end + pd.Timedelta(days=1))]
    orders = dealer.orders.loc[isin(dealer.orders["lead_id"], cohort["lead_id"])]
    return {
        "leads": float((cohort["created_at"] > edge).mean()) if len(cohort) else 0.0,
        "orders": float((orders["ordered_at"] > edge).mean()) if len(orders) else 0.0,
    }


def diagnosis_with_maturity(
    dealer: DealerData,
    period: Period,
    targets: Any,
    *,
    reconciliation: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The KPI tree and funnel diagnosis of the period, maturing KPIs on matured cohorts.

    A period that ends on the data date counts orders not yet due for delivery and leads still
    open, so delivery rate, lead-to-order rate and order timing look worse than they are. Those
    KPIs (``params/targets.yaml`` ``maturity.kpis``) are taken from the same-length cohort
    ending ``maturity.days`` before the data date (or the period itself when it already has that
    follow-up). Both frames gain ``window_start``/``window_end`` (the cohort each row is on);
    the returned ``maturity`` dict holds the days, the matured window, the KPIs it applies to
    and the immature shares of the period's own cohort (``leads``, ``orders``).
    """
    days, kpis = _maturity_params()
    start, end = (pd.Timestamp(p) for p in period)
    lag = max(pd.Timedelta(0), pd.Timedelta(days=days) - (pd.Timestamp(dealer.as_of) - end))
    mstart, mend = start - lag, end - lag
    tree = funnel.kpi_tree(dealer, period=(start, end), reconciliation=reconciliation)
    diag = funnel.diagnose(
        dealer, period=(start, end), targets=targets, reconciliation=reconciliation
    )
    for frame in (tree, diag):
        frame["window_start"], frame["window_end"] = start, end
    if lag > pd.Timedelta(0) and kpis:
        mtree = funnel.kpi_tree(dealer, period=(mstart, mend), reconciliation=reconciliation)
        mtree = mtree.set_index("kpi")
        sel = tree["kpi"].isin(kpis & set(mtree.index))
        cols = ["value", "numerator", "denominator", "std", "ci_low", "ci_high", "note"]
        tree.loc[sel, cols] = mtree.loc[tree.loc[sel, "kpi"], cols].to_numpy()
        tree.loc[sel, "window_start"], tree.loc[sel, "window_end"] = mstart, mend
        mdiag = funnel.diagnose(
            dealer, period=(mstart, mend), targets=targets, reconciliation=reconciliation
        )
        diag = _take_matured(diag, mdiag, kpis, (mstart, mend))
    maturity = {
        "days": days,
        "kpis": sorted(kpis),
        "window": (mstart, mend),
        "shifted": bool(lag > pd.Timedelta(0)),
        "immature_share": _immature_shares(dealer, (start, end), days),
    }
    return tree, diag, maturity


def _take_matured(
    diag: pd.DataFrame, mdiag: pd.DataFrame, kpis: frozenset[str], window: Period
) -> pd.DataFrame:
    """``diag`` with the stage and cause columns of maturing KPIs from ``mdiag`` (same rows)."""
    key = ["stage", "cause", "channel"]
    out = diag.set_index(key)
    m = mdiag.set_index(key).reindex(out.index)
    stage_cols = [c for c in out.columns if c.startswith("stage_")] + [
        "flagged",
        "flag_reason",
        "orders_at_stake",
    ]
    cause_cols = [
        "cause_value",
        "cause_target",
        "cause_peer_percentile",
        "cause_peer_median",
        "verdict",
        "evidence",
    ]
    stage_sel = out.index.get_level_values("stage").isin(kpis)
    out.loc[stage_sel, stage_cols] = m.loc[stage_sel, stage_cols].to_numpy()
    out.loc[stage_sel, ["window_start", "window_end"]] = window
    cause_sel = out["cause_kpi"].isin(kpis).to_numpy()
    out.loc[cause_sel, cause_cols] = m.loc[cause_sel, cause_cols].to_numpy()
    out = out.reset_index()
    out["flagged"] = out["flagged"].astype(bool)
    st = out.drop_duplicates("stage")[["stage", "flagged", "orders_at_stake"]]
    key_val = st["orders_at_stake"].astype(float).fillna(0.0).where(st["flagged"], -1.0)
    rank = key_val.rank(ascending=False, method="first").astype(int)
    out["rank"] = out["stage"].map(dict(zip(st["stage"], rank, strict=True)))
    return out.sort_values(["rank", "stage"], kind="stable").reset_index(drop=True)


def _speed_to_lead(dealer: DealerData, analysis: DealerAnalysis) -> None:
    leads, as_of = dealer.leads, dealer.as_of
    analysis.speed_to_lead = {
        "distribution": speed_to_lead.response_time_distribution(leads, as_of=as_of),
        "bands": speed_to_lead.conversion_by_response_band(leads, as_of=as_of),
        "effect": pd.DataFrame(),
        "event_leads": speed_to_lead.event_leads(leads),
    }
    try:
        analysis.speed_to_lead["effect"] = speed_to_lead.response_effect(leads, as_of=as_of)
    except InsufficientDataError as err:
        analysis.speed_to_lead_note = str(err)


def _pacing(dealer: DealerData) -> pd.DataFrame:
    raw = load_params("targets").get("pacing") or {}
    return pacing.month_to_date_pacing(
        dealer.leads,
        dealer.orders,
        as_of=dealer.as_of,
        targets=raw.get("months") or None,
        growth=float(raw.get("growth", 0.0)),
        weekdays=raw.get("open_weekdays", pacing.OPEN_WEEKDAYS),
    )


def _complaints(dealer: DealerData, settings: Settings, analysis: DealerAnalysis) -> None:
    sla = settings.section("lifecycle")["complaints"]
    table, as_of = dealer.complaints, dealer.as_of
    analysis.complaints = {
        "counts": complaints.complaint_counts(table),
        "handling": complaints.complaint_handling(
            table,
            as_of=as_of,
            first_response_hours=sla["first_response_hours"],
            resolution_days=sla["resolution_days"],
        ),
        "retention": pd.DataFrame(),
    }
    try:
        analysis.complaints["retention"] = complaints.complaint_retention(
            table,
            dealer.service_visits,
            as_of=as_of,
            retention_horizon_days=sla["retention_horizon_days"],
        )
    except InsufficientDataError as err:
        analysis.complaints_note = str(err)


#: Fewest dealers with a service summary for a network BG/NBD prior (as for a peer median).
MIN_PRIOR_DEALERS = 3
#: The file of a network's priors (:func:`fit_btyd_prior`), in a run folder's ``network/``.
PRIOR_FILE = "btyd_prior.pkl"


def store_visit_summary(source: str | os.PathLike[str], dealer_id: str) -> pd.DataFrame:
    """The dealer's service-visit summary (:func:`crm_analytics.models.clv.visit_summary`)
    from the store's service-visits table alone (:func:`crm_analytics.data.store.read_table`):
    the network prior's input, read before the dealers are loaded."""
    visits, as_of = read_table(source, dealer_id, "service_visits")
    return clv.visit_summary(visits, as_of, dealer_id=dealer_id)


def _fit_one_prior(job: tuple[str, dict[str, pd.DataFrame]]) -> tuple[NetworkPrior | None, str]:
    """One network prior of :func:`fit_btyd_prior` (``job``: the model, ``"bgnbd"`` or
    ``"gammagamma"``, and the dealers' service summaries), or ``(None, why)``."""
    model, summaries = job
    if model == "gammagamma":
        summaries = {d: clv.repeat_spenders(s) for d, s in summaries.items()}
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            return NetworkPrior(model=model).fit(summaries).without_dealer_fits(), ""
    except (ConvergenceError, InsufficientDataError, InputError) as err:
        return None, f"no network {model} prior: {err}"


def fit_btyd_prior(
    summaries: dict[str, pd.DataFrame],
    *,
    map_unordered: Callable[[Callable[[Any], Any], Sequence[Any]], Any] | None = None,
) -> tuple[clv.BasePriors | None, str]:
    """The network's priors of the CLV base models (:class:`crm_analytics.models.clv.
    BasePriors`: BG/NBD on the service visits, Gamma-Gamma on the repeat customers' margins,
    each a :class:`crm_analytics.models.btyd.NetworkPrior`, empirical Bayes) from every
    dealer's service summary, without their per-dealer fits; ``(None, why)`` with fewer than
    :data:`MIN_PRIOR_DEALERS` dealers or when both fits fail (each dealer then gets its own
    fits, the visit model with the small-dealer penalty retries). A prior whose fit fails is
    None in the pair, and ``why`` says which and why.

    ``map_unordered`` (a run's process pool, yielding ``(job, result or exception)``) fits the
    two priors side by side; without it they are fitted one after the other here."""
    if len(summaries) < MIN_PRIOR_DEALERS:
        return None, (
            f"{len(summaries)} dealer(s) with service visits; a network prior needs "
            f"{MIN_PRIOR_DEALERS}"
        )
    ordered = dict(sorted(summaries.items()))
    jobs = [("bgnbd", ordered), ("gammagamma", ordered)]
    if map_unordered is None:
        done = [(job, _fit_one_prior(job)) for job in jobs]
    else:
        done = list(map_unordered(_fit_one_prior, jobs))
    got: dict[str, tuple[NetworkPrior | None, str]] = {}
    for (model, _), result in done:
        if isinstance(result, BaseException):  # the worker process died
            result = (None, f"no network {model} prior: {type(result).__name__}: {result}")
        got[model] = result
    why = "; ".join(got[m][1] for m in ("bgnbd", "gammagamma") if got[m][1])
    if got["bgnbd"][0] is None and got["gammagamma"][0] is None:
        return None, why
    return clv.BasePriors(visits=got["bgnbd"][0], spend=got["gammagamma"][0]), why


def fit_network_models(
    frames: dict[str, tuple[ScoringFrames | None, ScoringFrames | None]],
    *,
    need_churn: bool,
) -> tuple[LeadScoreModel | None, ChurnModel | None, str]:
    """The network stage's models, fitted once per run on every dealer's training rows:
    the pooled lead model, and (``need_churn``: some dealer is too small for its own) the
    network churn model. Returns ``(lead_model, churn_model, note)``."""
    note = ""
    # the run's other processes wait for these fits: the boosters use every core, and score
    # on one thread in the workers afterwards (beside each other)
    threads = os.cpu_count() or 1
    lead_model: LeadScoreModel | None = None
    lead = [f[1] for f in frames.values() if f[1] is not None and len(f[1].train_X)]
    if lead:
        try:
            lead_model = LeadScoreModel(n_threads=threads).fit(
                pd.concat([f.train_X for f in lead], ignore_index=True),
                pd.concat([f.train_y for f in lead], ignore_index=True),
            )
            lead_model.n_threads = 1
        except InsufficientDataError as err:
            note = str(err)
    churn_model: ChurnModel | None = None
    churn = [f[0] for f in frames.values() if f[0] is not None and len(f[0].train_X)]
    if need_churn and churn:
        try:
            churn_model = ChurnModel(n_threads=threads).fit(
                pd.concat([f.train_X for f in churn], ignore_index=True),
                pd.concat([pd.Series(f.train_y) for f in churn], ignore_index=True),
            )
            churn_model.n_threads = 1
        except InsufficientDataError as err:
            note = (note + " " + str(err)).strip()
    return lead_model, churn_model, note


def score_with_network(
    analysis: DealerAnalysis,
    lead_model: LeadScoreModel | None,
    churn_model: ChurnModel | None,
    note: str = "",
) -> DealerAnalysis:
    """The network stage's part of a dealer: its open leads scored with the pooled lead model,
    and its active customers with the network churn model when it has none of its own."""
    if lead_model is not None and analysis.lead_frames is not None:
        analysis.lead_model = lead_model
        analysis.lead_scores = lead_model.score_rows(analysis.lead_frames.now_X, analysis.dealer_id)
    else:
        analysis.lead_note = note or "no network lead model in this run"
    if analysis.churn_model is None and churn_model is not None and analysis.churn_frames:
        analysis.churn_model = churn_model
        analysis.churn_scores = churn_model.score_rows(
            analysis.churn_frames.now_X, analysis.dealer_id
        )
        analysis.churn_source = "network"
    return analysis.without_frames()


def save_analysis(analysis: DealerAnalysis, path: str | os.PathLike[str]) -> Path:
    """Write the analysis atomically (pickle: it holds fitted models; a run reads it back with
    the same package version, which the run's fingerprint includes). The network part beside
    it (:func:`save_network_scores`) belonged to the analysis replaced: it is removed first."""
    Path(path).with_name(NETWORK_SCORES_FILE).unlink(missing_ok=True)
    return write_pickle(analysis, path)


def save_network_scores(analysis: DealerAnalysis, path: str | os.PathLike[str]) -> Path:
    """Write what :func:`score_with_network` added to the analysis at ``path``
    (:data:`NETWORK_SCORES_FILE` beside it): well under a megabyte instead of the whole
    analysis again (tens of megabytes for a large dealer)."""
    part = {name: getattr(analysis, name) for name in _NETWORK_FIELDS}
    return write_pickle(part, Path(path).with_name(NETWORK_SCORES_FILE))


def load_analysis(path: str | os.PathLike[str], *, network: bool = True) -> DealerAnalysis:
    """Read an analysis written by :func:`save_analysis` (only from a run folder you trust),
    with the network stage's part beside it when there is one (``network=False``: without)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(
            f"no analysis at {p}: run `crm-analytics report` for this dealer first, or open the "
            "dealer from the store (report.notebook.open_analysis without run_dir)"
        )
    obj = read_pickle(p, what="analysis")
    if not isinstance(obj, DealerAnalysis):
        raise InputError(f"{p} does not hold a dealer analysis; rerun the dealer with --force")
    part_path = p.with_name(NETWORK_SCORES_FILE)
    if network and part_path.is_file():
        part = read_pickle(part_path, what="network scores")
        if not isinstance(part, dict) or set(part) != set(_NETWORK_FIELDS):
            raise InputError(
                f"{part_path} does not hold a dealer's network scores; rerun the dealer with --force"
            )
        for name, value in part.items():
            setattr(obj, name, value)
    return obj
