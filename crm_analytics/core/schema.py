"""Canonical dealer data model: one pandera ``DataFrameModel`` per table.

Every table carries ``dealer_id``. Money is yuan (float), times are timezone-naive local
times, ids are strings. The allowed values of categorical columns are the module-level
tuples below; analyses import them from here rather than repeating literals.

Row-level rules live in the models (types, ranges, allowed values, uniqueness). Rules that
need more than one table (foreign keys, stage chronology, nothing after the as-of date) live
in :mod:`crm_analytics.data.validation`.
"""

from __future__ import annotations

import functools

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

#: Lead channels of the deck (sales flow, slides 23-27): passive and active sources.
CHANNELS: tuple[str, ...] = (
    "online_inquiry",
    "phone_inquiry",
    "walk_in",
    "auto_show",
    "partner_list",
    "referral",
    "dcc_outbound",
    "dormant_activation",
)
#: Chinese display names of the channels.
CHANNEL_LABELS_ZH: dict[str, str] = {
    "online_inquiry": "网络询价",
    "phone_inquiry": "电话询价",
    "walk_in": "展厅自然进店",
    "auto_show": "车展/外展",
    "partner_list": "异业合作名单",
    "referral": "老客户转介绍",
    "dcc_outbound": "DCC外呼邀约",
    "dormant_activation": "休眠客户激活",
}
#: Channels whose leads come to the dealer and wait for its first response (speed-to-lead);
#: the others are created at a contact the dealer makes (walk-in at the desk, outbound calls).
INBOUND_CHANNELS: tuple[str, ...] = (
    "online_inquiry",
    "phone_inquiry",
    "auto_show",
    "partner_list",
    "referral",
)
MODELS: tuple[str, ...] = ("Q50L", "QX50", "QX60", "Q70L", "QX80")
INTENT_GRADES: tuple[str, ...] = ("H", "A", "B", "C")
LEAD_STATUSES: tuple[str, ...] = ("open", "won", "defeated")
DEFEAT_REASONS: tuple[str, ...] = (
    "price",
    "bought_competitor",
    "bought_other_dealer",
    "postponed",
    "financing_rejected",
    "lost_contact",
    "product_fit",
)
TOUCH_KINDS: tuple[str, ...] = (
    "inquiry",  # a channel contact that carries media attribution (ad click, call-in, show stand)
    "call",
    "invitation",
    "visit",
    "test_drive",
    "quote",
    "order",
    "delivery",
    "interview",
    "survey",
    "complaint",
    "solicitation",
)
#: Outcomes of a touchpoint of kind ``call`` (an attempt by the CRM or DCC desk).
CALL_OUTCOMES: tuple[str, ...] = ("reached", "no_answer", "wrong_number", "refused")
SERVICE_KINDS: tuple[str, ...] = ("maintenance", "repair", "warranty", "accident", "recall", "care")
SURVEY_KINDS: tuple[str, ...] = (
    "delivery_interview",
    "sales_satisfaction",
    "service_satisfaction",
    "intent_survey",
    "defeated_survey",
)
#: What a complaint is about, and the stage of the customer's life it arose in.
COMPLAINT_CATEGORIES: tuple[str, ...] = (
    "repair_quality",
    "waiting_time",
    "price",
    "staff_attitude",
    "parts_availability",
    "broken_promise",
)
COMPLAINT_STAGES: tuple[str, ...] = ("sales", "delivery", "service", "insurance")
VISIT_REASONS: tuple[str, ...] = ("sales", "service", "delivery", "other")
STAFF_ROLES: tuple[str, ...] = (
    "sales_consultant",
    "service_advisor",
    "reception",
    "dcc",
    "crm",
    "manager",
)
ORDER_STATUSES: tuple[str, ...] = ("pending", "delivered", "cancelled")
#: Order margin columns (yuan) whose sum is an order's gross profit.
ORDER_MARGIN_COLUMNS: tuple[str, ...] = (
    "vehicle_margin",
    "finance_margin",
    "insurance_margin",
    "accessories_margin",
    "extended_warranty_margin",
    "trade_in_margin",
)
USES: tuple[str, ...] = ("family", "commute", "business", "leisure")
INDUSTRIES: tuple[str, ...] = (
    "finance",
    "it",
    "manufacturing",
    "trade",
    "public_sector",
    "healthcare",
    "education",
    "real_estate",
    "self_employed",
)
#: Industries of company customers (key accounts / 大客户, DIGEST sections 23-24, 48); a
#: person's industry is one of :data:`INDUSTRIES`.
COMPANY_INDUSTRIES: tuple[str, ...] = (
    "logistics",
    "car_rental",
    "public_sector",
    "manufacturing",
    "real_estate",
)
#: Dealer marketing events (DIGEST section 5: 店内活动 in the showroom, 店外活动 outside it,
#: such as exhibitions and mall tours).
EVENT_KINDS: tuple[str, ...] = ("in_store", "outside")
HOBBIES: tuple[str, ...] = (
    "golf",
    "travel",
    "photography",
    "fitness",
    "reading",
    "fishing",
    "wine",
    "outdoor",
)
MEDIA: tuple[str, ...] = (
    "autohome",
    "dongchedi",
    "wechat",
    "douyin",
    "outdoor_ads",
    "tv",
    "friends",
    "show",
)

_DATE_MIN = pd.Timestamp("1990-01-01")
_DATE_MAX = pd.Timestamp("2100-01-01")


def _time(nullable: bool = False, **kw):
    """A timestamp column within a sane range (catches 1900 placeholders and 2099 typos)."""
    return pa.Field(nullable=nullable, ge=_DATE_MIN, le=_DATE_MAX, **kw)


def _money(nullable: bool = False, ge: float | None = 0.0, **kw):
    checks = {} if ge is None or "gt" in kw else {"ge": ge}
    return pa.Field(nullable=nullable, le=1e8, **checks, **kw)


class _Base(pa.DataFrameModel):
    dealer_id: Series[str] = pa.Field(str_length={"min_value": 1})

    class Config:
        strict = True
        coerce = True


class Dealers(pa.DataFrameModel):
    """The network's dealers (one row per dealer)."""

    dealer_id: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    name: Series[str]
    city: Series[str]
    region: Series[str]
    as_of: Series[pd.Timestamp] = _time()
    opening_hour: Series[int] = pa.Field(ge=0, le=23)
    closing_hour: Series[int] = pa.Field(ge=1, le=24)

    class Config:
        strict = True
        coerce = True


class Staff(_Base):
    """Consultants, service advisors, reception and CRM staff."""

    staff_id: Series[str] = pa.Field(unique=True)
    name: Series[str]
    role: Series[str] = pa.Field(isin=STAFF_ROLES)
    phone: Series[str] = pa.Field(nullable=True)
    hired_at: Series[pd.Timestamp] = _time()
    left_at: Series[pd.Timestamp] = _time(nullable=True)
    skill: Series[float] = pa.Field(nullable=True, ge=-5, le=5)


class Customers(_Base):
    """A person or company the dealer knows."""

    customer_id: Series[str] = pa.Field(unique=True)
    name: Series[str] = pa.Field(nullable=True)
    phone: Series[str] = pa.Field(nullable=True)
    gender: Series[str] = pa.Field(nullable=True, isin=("M", "F"))
    birth_year: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1920, le=2010)
    city: Series[str] = pa.Field(nullable=True)
    industry: Series[str] = pa.Field(nullable=True)
    hobbies: Series[str] = pa.Field(nullable=True)  # ';'-separated
    distance_km: Series[float] = pa.Field(nullable=True, ge=0, le=2000)
    created_at: Series[pd.Timestamp] = _time()


class Vehicles(_Base):
    """A vehicle owned by a customer of the dealer."""

    vin: Series[str] = pa.Field(unique=True, str_length={"min_value": 17, "max_value": 17})
    customer_id: Series[str]
    model: Series[str] = pa.Field(isin=MODELS)
    purchase_date: Series[pd.Timestamp] = _time()
    sold_by_this_dealer: Series[bool]
    warranty_end: Series[pd.Timestamp] = _time()
    finance_end: Series[pd.Timestamp] = _time(nullable=True)
    recall_campaign: Series[str] = pa.Field(nullable=True)


class Leads(_Base):
    """A sales opportunity."""

    lead_id: Series[str] = pa.Field(unique=True)
    customer_id: Series[str]
    channel: Series[str] = pa.Field(isin=CHANNELS)
    model_interest: Series[str] = pa.Field(isin=MODELS)
    created_at: Series[pd.Timestamp] = _time()
    consultant_id: Series[str] = pa.Field(nullable=True)
    intent_grade: Series[str] = pa.Field(nullable=True, isin=INTENT_GRADES)
    status: Series[str] = pa.Field(isin=LEAD_STATUSES)
    closed_at: Series[pd.Timestamp] = _time(nullable=True)
    defeat_reason: Series[str] = pa.Field(nullable=True, isin=DEFEAT_REASONS)
    # the dealer's first response (call or message) to the lead; the creation time for leads
    # created at a dealer contact, empty while an inbound lead awaits its first response
    first_response_at: Series[pd.Timestamp] = _time(nullable=True)
    # the dealer's marketing event that produced the lead (events.event_id), if any
    event_id: Series[str] = pa.Field(nullable=True)


class Touchpoints(_Base):
    """A contact event between the dealer and a customer."""

    touch_id: Series[str] = pa.Field(unique=True)
    customer_id: Series[str]
    lead_id: Series[str] = pa.Field(nullable=True)
    kind: Series[str] = pa.Field(isin=TOUCH_KINDS)
    channel: Series[str] = pa.Field(nullable=True, isin=CHANNELS)
    at: Series[pd.Timestamp] = _time()
    outcome: Series[str] = pa.Field(nullable=True)
    dwell_minutes: Series[float] = pa.Field(nullable=True, ge=0, le=24 * 60)
    staff_id: Series[str] = pa.Field(nullable=True)


class Orders(_Base):
    """A new-car order and its value-added items (amounts and gross margins in yuan)."""

    order_id: Series[str] = pa.Field(unique=True)
    lead_id: Series[str]
    customer_id: Series[str]
    vin: Series[str] = pa.Field(nullable=True)
    model: Series[str] = pa.Field(isin=MODELS)
    ordered_at: Series[pd.Timestamp] = _time()
    delivered_at: Series[pd.Timestamp] = _time(nullable=True)
    status: Series[str] = pa.Field(isin=ORDER_STATUSES)
    price: Series[float] = _money(gt=0)
    vehicle_margin: Series[float] = _money(ge=None)
    finance: Series[bool]
    finance_margin: Series[float] = _money()
    insurance: Series[bool]
    insurance_margin: Series[float] = _money()
    accessories_amount: Series[float] = _money()
    accessories_margin: Series[float] = _money()
    extended_warranty: Series[bool]
    extended_warranty_margin: Series[float] = _money()
    trade_in: Series[bool]
    trade_in_margin: Series[float] = _money(ge=None)


class ServiceVisits(_Base):
    """A repair order (after-sales visit)."""

    ro_id: Series[str] = pa.Field(unique=True)
    vin: Series[str]
    customer_id: Series[str]
    at: Series[pd.Timestamp] = _time()
    kind: Series[str] = pa.Field(isin=SERVICE_KINDS)
    labor_amount: Series[float] = _money()
    parts_amount: Series[float] = _money()
    addon_amount: Series[float] = _money()  # care / detailing products sold on the same visit
    margin: Series[float] = _money(ge=None)
    mileage: Series[float] = pa.Field(ge=0, le=2_000_000)
    advisor_id: Series[str] = pa.Field(nullable=True)


class InsurancePolicies(_Base):
    """One policy year of one vehicle."""

    policy_id: Series[str] = pa.Field(unique=True)
    vin: Series[str]
    customer_id: Series[str]
    start: Series[pd.Timestamp] = _time()
    end: Series[pd.Timestamp] = _time()
    premium: Series[float] = _money(gt=0)
    margin: Series[float] = _money()
    sold_by_this_dealer: Series[bool]
    renewal: Series[bool]


class Surveys(_Base):
    """An answered survey or interview."""

    survey_id: Series[str] = pa.Field(unique=True)
    customer_id: Series[str]
    lead_id: Series[str] = pa.Field(nullable=True)
    at: Series[pd.Timestamp] = _time()
    kind: Series[str] = pa.Field(isin=SURVEY_KINDS)
    score: Series[float] = pa.Field(nullable=True, ge=0, le=10)
    recalled_channel: Series[str] = pa.Field(nullable=True, isin=CHANNELS)
    use: Series[str] = pa.Field(nullable=True, isin=USES)
    media_seen: Series[str] = pa.Field(nullable=True)  # ';'-separated
    staff_id: Series[str] = pa.Field(nullable=True)


class VisitorLog(_Base):
    """The front desk's register of arrivals (hand cards / showroom traffic register)."""

    entry_id: Series[str] = pa.Field(unique=True)
    at: Series[pd.Timestamp] = _time()
    name: Series[str] = pa.Field(nullable=True)
    phone: Series[str] = pa.Field(nullable=True)
    party_size: Series[int] = pa.Field(ge=1, le=20)
    reason: Series[str] = pa.Field(isin=VISIT_REASONS)
    staff_id: Series[str] = pa.Field(nullable=True)


class ChannelCosts(_Base):
    """Spend per lead channel and month (month = first day of the month)."""

    channel: Series[str] = pa.Field(isin=CHANNELS)
    month: Series[pd.Timestamp] = _time()
    cost: Series[float] = _money()

    class Config:
        unique = ["dealer_id", "channel", "month"]


class Complaints(_Base):
    """A customer complaint and its handling (opened, first response, resolved, reopened)."""

    complaint_id: Series[str] = pa.Field(unique=True)
    customer_id: Series[str]
    vin: Series[str] = pa.Field(nullable=True)
    category: Series[str] = pa.Field(isin=COMPLAINT_CATEGORIES)
    stage: Series[str] = pa.Field(isin=COMPLAINT_STAGES)
    opened_at: Series[pd.Timestamp] = _time()
    first_response_at: Series[pd.Timestamp] = _time(nullable=True)
    resolved_at: Series[pd.Timestamp] = _time(nullable=True)  # empty while unresolved
    reopened: Series[bool]  # reopened at least once after a first resolution
    staff_id: Series[str] = pa.Field(nullable=True)


class Events(_Base):
    """A dealer marketing event: in the showroom (in_store) or outside it (exhibition, mall
    tour); its leads carry its ``event_id``."""

    event_id: Series[str] = pa.Field(unique=True)
    kind: Series[str] = pa.Field(isin=EVENT_KINDS)
    name: Series[str] = pa.Field(nullable=True)
    start: Series[pd.Timestamp] = _time()
    end: Series[pd.Timestamp] = _time()
    cost: Series[float] = _money(nullable=True)


#: table name -> (model, primary key or None)
TABLES: dict[str, tuple[type[pa.DataFrameModel], str | None]] = {
    "staff": (Staff, "staff_id"),
    "customers": (Customers, "customer_id"),
    "vehicles": (Vehicles, "vin"),
    "leads": (Leads, "lead_id"),
    "touchpoints": (Touchpoints, "touch_id"),
    "orders": (Orders, "order_id"),
    "service_visits": (ServiceVisits, "ro_id"),
    "insurance_policies": (InsurancePolicies, "policy_id"),
    "surveys": (Surveys, "survey_id"),
    "visitor_log": (VisitorLog, "entry_id"),
    "channel_costs": (ChannelCosts, None),
    "complaints": (Complaints, "complaint_id"),
    "events": (Events, "event_id"),
}
TABLE_NAMES: tuple[str, ...] = tuple(TABLES)
#: Nullable columns added after tables were first written: a frame without them (an older
#: store, export or caller) gets them empty (:func:`crm_analytics.data.validation.build_dealer`).
LATER_COLUMNS: dict[str, tuple[str, ...]] = {"leads": ("event_id",)}


@functools.cache
def _columns(table: str) -> tuple[str, ...]:
    model, _ = TABLES[table]
    return tuple(model.to_schema().columns)


def columns(table: str) -> list[str]:
    """Canonical column names of ``table``, in order."""
    return list(_columns(table))


def empty_frame(table: str) -> pd.DataFrame:
    """An empty frame with the canonical columns and dtypes of ``table``."""
    model, _ = TABLES[table]
    schema = model.to_schema()
    return pd.DataFrame(
        {
            name: pd.Series(dtype=col.dtype.type if col.dtype else object)
            for name, col in schema.columns.items()
        }
    )
