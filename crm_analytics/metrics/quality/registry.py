"""The registry of data-quality rules: one :class:`~crm_analytics.metrics.quality.rule.Rule` each.

The scorecard applies the rules in registry order, the fix list takes each issue's owner and
action from it, and ``docs/quality_rules.md`` is generated from it (:func:`rules_markdown`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from crm_analytics.core.files import atomic_write_text
from crm_analytics.metrics.quality import authenticity as au
from crm_analytics.metrics.quality import continuity as co
from crm_analytics.metrics.quality import validity as va
from crm_analytics.metrics.quality.rule import DIMENSIONS, Fix, Rule

_QUARANTINED = Fix(
    "quarantined",
    "crm",
    "row rejected at load time: correct it in the DMS and re-export",
    "导入时被拒收的行：在 DMS 中更正后重新导出",
)
_MISSING_STAGE = Fix(
    "missing_stage",
    "consultant",
    "enter the missing stage record of the lead",
    "补录该线索缺失的阶段记录",
)
_CONSULTANT_REQUIRED = Fix(
    "consultant_required", "sales_manager", "assign a consultant", "指派销售顾问"
)

#: every rule, in the order the scorecard applies them (the order of the flags)
REGISTRY: tuple[Rule, ...] = (
    # -- authenticity [真实性] --------------------------------------------------------------------
    Rule(
        "phone_format",
        "authenticity",
        "customers",
        "customer phones are valid mainland mobile (1[3-9] + 9 digits) or landline (0 + area code "
        "+ 7-8 digits) numbers; checked = customers with a phone not masked by the DMS (a masked "
        "phone, 138****5678, cannot be checked)",
        "客户电话为有效的大陆手机号（1[3-9] 加 9 位）或固话（0 加区号加 7-8 位）；检查数 = 有电话且电话未被 DMS 打码的客户（打码电话如 138****5678 无法检查）",
        au.customer_phone_format,
        (
            Fix(
                "phone_format",
                "consultant",
                "the phone is not a valid mainland mobile or landline number: correct it",
                "电话不是有效的大陆手机号或固话：请更正",
            ),
        ),
    ),
    Rule(
        "placeholder_record",
        "authenticity",
        "customers",
        "no placeholder or test record (13800000000, 123456, 测试, test, 客户 ...)",
        "没有占位或测试记录（13800000000、123456、测试、test、客户……）",
        au.placeholder_record,
        (
            Fix(
                "placeholder_record",
                "consultant",
                "placeholder or test record: complete it with real data or delete it",
                "占位或测试记录：补全真实信息或删除",
            ),
        ),
    ),
    Rule(
        "duplicate_person",
        "authenticity",
        "customers",
        "one person, one customer id: customers sharing a normalised phone and a surname are the "
        "same person (the later ids fail)",
        "一人一档：标准化电话相同且姓氏相同的客户是同一人（较晚建档的编号不通过）",
        au.duplicate_person,
        (
            Fix(
                "duplicate_person",
                "consultant",
                "the same person has another customer id: merge the records",
                "同一客户另有客户编号：请合并档案",
            ),
        ),
    ),
    Rule(
        "staff_phone",
        "authenticity",
        "customers",
        "no staff member's phone entered as a customer's phone",
        "客户电话不得填写员工的电话",
        au.staff_phone,
        (
            Fix(
                "staff_phone",
                "consultant",
                "a staff phone was entered as the customer's phone: enter the customer's own number",
                "客户电话填的是员工电话：请填写客户本人电话",
            ),
        ),
    ),
    Rule(
        "phone_typo",
        "authenticity",
        "customers",
        "the DMS phone is not one digit away from the phone the same person gave at the front desk",
        "DMS 中的电话与同一人在前台登记的电话不应只差一位数字",
        au.phone_typo,
        (
            Fix(
                "phone_typo",
                "consultant",
                "the DMS phone differs by one digit from the front-desk phone: confirm with the "
                "customer and correct",
                "DMS 电话与前台登记电话差一位：请与客户确认后更正",
            ),
        ),
    ),
    Rule(
        "phone_format",
        "authenticity",
        "visitor_log",
        "front-desk phones are valid, non-placeholder numbers; checked = log rows with a phone not "
        "masked by the DMS",
        "前台登记的电话有效且非占位号码；检查数 = 有电话且电话未被打码的登记行",
        au.log_phone_format,
        (
            Fix(
                "log_phone_format",
                "reception",
                "front-desk phone invalid or placeholder: correct the hand card",
                "前台登记电话无效或为占位号码：请更正来店登记卡",
            ),
        ),
    ),
    Rule(
        "visit_has_arrival",
        "authenticity",
        "touchpoints",
        "every DMS visit has a front-desk arrival (a visit without one is possibly fabricated); "
        "checked = DMS visits on days the log covers",
        "每条 DMS 到店记录都有前台来店登记（没有的可能是虚构）；检查数 = 有来店登记的日子里的 DMS 到店记录",
        au.visit_has_arrival,
        (
            Fix(
                "phantom_visit",
                "consultant",
                "no front-desk arrival for this DMS visit: confirm it with reception or delete it",
                "该 DMS 到店记录没有前台来店登记：与前台核实或删除",
            ),
        ),
    ),
    Rule(
        "one_repair_order",
        "authenticity",
        "service_visits",
        "one workshop visit, one repair order: repair orders of the same vehicle and customer at "
        "the same time, of the same kind and amounts, are one visit keyed in twice (the later ids "
        "fail)",
        "一次进厂一张工单：同一车辆、同一客户、同一时间、类型与金额相同的工单是重复录入（较晚的编号不通过）",
        au.one_repair_order,
        (
            Fix(
                "duplicate_repair_order",
                "crm",
                "the same repair order was keyed in twice under another id: delete the copy",
                "同一工单以另一编号重复录入：删除副本",
            ),
        ),
    ),
    # -- continuity [连贯性] ----------------------------------------------------------------------
    Rule(
        "arrival_in_dms",
        "continuity",
        "visitor_log",
        "every front-desk sales arrival is registered in the DMS as a visit (walk-in registration)",
        "每个前台登记的销售来店都在 DMS 中登记为到店（散客留档）",
        co.arrival_in_dms,
        (
            Fix(
                "unregistered_walk_in",
                "consultant",
                "register the walk-in in the DMS (customer, lead and visit) or explain why not",
                "在 DMS 中为该散客建档（客户、线索和到店），或说明未建档原因",
            ),
            Fix(
                "visit_not_recorded",
                "consultant",
                "enter the visit of this known prospect in the DMS",
                "在 DMS 中补录该意向客户的到店记录",
            ),
        ),
    ),
    Rule(
        "no_missing_day",
        "continuity",
        "visitor_log",
        "no day without log entries while the showroom was open (the DMS expects arrivals that day)",
        "展厅营业日不得没有来店登记（DMS 显示当天应有来店）",
        co.no_missing_day,
        (
            Fix(
                "missing_log_day",
                "reception",
                "no visitor-log entry on a day the showroom was open: enter the day's hand cards",
                "展厅营业日没有来店登记：补录当天的来店登记卡",
            ),
        ),
    ),
    Rule(
        "no_silent_month",
        "continuity",
        "*",
        "no calendar month without records in an event table (leads, touchpoints, orders, "
        "service visits, surveys, visitor log) between its first record and the as-of date, when "
        "the daily rate of the 12 months before the empty run made an empty month at most "
        "`missing_day_max_chance` likely (an export cut short or a DMS not in use); checked = months",
        "事件表（线索、接触、订单、维修进厂、回访、来店登记）从首条记录到数据截止日之间，不得有整月无记录——"
        "按空缺前 12 个月的日均量，整月为空的概率不超过 `missing_day_max_chance`（导出被截断或 DMS 未使用）；检查数 = 月数",
        co.no_silent_month,
        (
            Fix(
                "silent_month",
                "crm",
                "no record in this table for a whole month: re-export the month, or find out why "
                "the DMS was not used",
                "该表整月无记录：重新导出该月数据，或查明 DMS 为何未被使用",
            ),
        ),
    ),
    Rule(
        "followup_within_days",
        "continuity",
        "leads",
        "every open lead has a follow-up (any non-inquiry touch) within `followup_days` days of the "
        "as-of date",
        "每条未关闭线索在数据截止日前 `followup_days` 天内有跟进（除咨询外的任何接触）",
        co.followup_within_days,
        (
            Fix(
                "followup_overdue",
                "consultant",
                "follow up the open lead (call or invitation) and record it",
                "跟进该未关闭线索（电话或邀约）并记录",
            ),
        ),
    ),
    Rule(
        "visit_before_stage",
        "continuity",
        "touchpoints",
        "every test drive, quote and order has a DMS visit of its lead within "
        "`stage_visit_window_hours` hours before it",
        "每次试驾、报价和订单之前 `stage_visit_window_hours` 小时内，该线索在 DMS 中有到店记录",
        co.visit_before_stage,
        (_MISSING_STAGE,),
    ),
    Rule(
        "quote_before_order",
        "continuity",
        "touchpoints",
        "every order touch has a quote of its lead at or before it",
        "每个订单接触之前（或同时）该线索有报价",
        co.quote_before_order,
        (_MISSING_STAGE,),
    ),
    Rule(
        "delivery_has_order",
        "continuity",
        "touchpoints",
        "every delivery has its order",
        "每次交车都有对应订单",
        co.delivery_has_order,
        (
            Fix(
                "delivery_without_order",
                "consultant",
                "enter the order of this delivered lead",
                "补录该已交车线索的订单",
            ),
        ),
    ),
    Rule(
        "has_parent",
        "continuity",
        "*",
        "every row points to an existing parent (order -> lead, lead -> customer, ...); counts "
        "rows quarantined at the boundary by a foreign_key rule",
        "每行都指向存在的上级记录（订单 -> 线索，线索 -> 客户……）；统计导入时因外键规则被隔离的行",
        va.quarantine_rule,
        (_QUARANTINED,),
    ),
    Rule(
        "chronology",
        "continuity",
        "*",
        "stage timestamps in order (order after lead, delivery after order, stages after the "
        "lead); counts rows quarantined by a chronology rule",
        "各阶段时间先后正确（订单晚于线索、交车晚于订单、各阶段晚于线索）；统计因时间顺序规则被隔离的行",
        va.quarantine_rule,
        (_QUARANTINED,),
    ),
    # -- validity [有效性] ------------------------------------------------------------------------
    Rule(
        "row_rules",
        "validity",
        "*",
        "types, allowed values, ranges, required fields and unique keys of the canonical model; "
        "counts rows quarantined by those rules",
        "字段类型、取值范围、必填字段和唯一键符合标准数据模型；统计因这些规则被隔离的行",
        va.row_rules,
        (_QUARANTINED,),
    ),
    Rule(
        "not_after_as_of",
        "validity",
        "*",
        "no event dated after the as-of date; counts rows quarantined by after_as_of",
        "没有晚于数据截止日的事件；统计因 after_as_of 被隔离的行",
        va.quarantine_rule,
        (_QUARANTINED,),
    ),
    Rule(
        "phone_required",
        "validity",
        "customers",
        "every customer has a phone",
        "每位客户都有电话",
        va.phone_required,
        (Fix("phone_required", "consultant", "add the customer's phone", "补录客户电话"),),
    ),
    Rule(
        "consultant_required",
        "validity",
        "leads",
        "every lead has a consultant",
        "每条线索都有销售顾问",
        va.lead_consultant_required,
        (_CONSULTANT_REQUIRED,),
    ),
    Rule(
        "consultant_required",
        "validity",
        "visitor_log",
        "every sales arrival names the consultant who received it",
        "每个销售来店都登记了接待的销售顾问",
        va.log_consultant_required,
        (_CONSULTANT_REQUIRED,),
    ),
    Rule(
        "inside_opening_hours",
        "validity",
        "visitor_log",
        "arrivals lie inside opening hours (with `opening_grace_minutes` minutes of grace)",
        "来店时间在营业时间内（允许 `opening_grace_minutes` 分钟的宽限）",
        va.inside_opening_hours,
        (
            Fix(
                "outside_opening_hours",
                "reception",
                "arrival outside opening hours: check the time on the hand card",
                "来店时间在营业时间外：核对来店登记卡上的时间",
            ),
        ),
    ),
    Rule(
        "no_duplicate_entry",
        "validity",
        "visitor_log",
        "no visitor registered twice: the same person (phone or name), reason and consultant "
        "again within `duplicate_entry_minutes` minutes is a duplicate row; checked = kept log rows",
        "同一访客不重复登记：同一人（电话或姓名）、同一来店原因和顾问在 `duplicate_entry_minutes` "
        "分钟内再次登记即为重复行；检查数 = 保留的登记行",
        va.no_duplicate_entry,
        (
            Fix(
                "duplicate_entry",
                "reception",
                "the same visitor registered twice: delete the second row",
                "同一访客重复登记：删除第二行",
            ),
        ),
    ),
)


def _check_registry(registry: tuple[Rule, ...]) -> None:
    keys = [r.key for r in registry]
    if len(set(keys)) != len(keys):
        raise ValueError("the rule registry holds a rule key (table.rule) twice")
    issue_tables: dict[tuple[str, str], Fix] = {}
    for r in registry:
        for f in r.fixes:
            if issue_tables.setdefault((r.table, f.issue), f) != f:
                raise ValueError(f"fix-list issue {f.issue!r} of {r.table} is defined twice")


_check_registry(REGISTRY)

#: (dimension, table, rule) -> what the rule checks (English)
RULES: Mapping[tuple[str, str, str], str] = MappingProxyType(
    {(r.dimension, r.table, r.id): r.en for r in REGISTRY}
)

#: rule key (``table.rule``, or ``rule`` for a ``*`` rule) -> rule
BY_KEY: Mapping[str, Rule] = MappingProxyType({r.key: r for r in REGISTRY})

_FIXES: dict[tuple[str, str], Fix] = {(r.table, f.issue): f for r in REGISTRY for f in r.fixes}

#: fix-list issue -> (who fixes it, what to do)
ACTIONS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {f.issue: (f.owner, f.en) for r in REGISTRY for f in r.fixes}
)


def describe(dimension: str, table: str, rule: str, *, lang: str = "en") -> str:
    """What a rule checks (``lang`` ``en`` or ``zh``); a ``*`` rule describes every table's row."""
    for r in REGISTRY:
        if (r.dimension, r.id) == (dimension, rule) and r.table in (table, "*"):
            return r.zh if lang == "zh" else r.en
    return ""


def fix_of(table: str, issue: str) -> Fix | None:
    """The fix of a fix-list issue found in ``table`` (the table's own rule first, then a ``*`` rule)."""
    return _FIXES.get((table, issue)) or _FIXES.get(("*", issue))


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rules_markdown() -> str:
    """The rules as a markdown document (``docs/quality_rules.md`` is this text)."""
    lines = [
        "# Data-quality rules / 数据质量规则",
        "",
        "Generated from `crm_analytics.metrics.quality.registry.REGISTRY`; do not edit by hand "
        "(regenerate with `crm_analytics.metrics.quality.registry.write_rules_markdown()` from the "
        "project root).",
        "",
        "由规则注册表自动生成，请勿手工修改。",
        "",
        "Scores: a rule's pass rate is `1 - failed / checked` over the records it checks (a `*` "
        "rule pools its tables). Its score is `100 * max(0, 1 - failure rate / tolerance)`, the "
        "tolerance being `score_tolerance` (10%: a rule failing on one record in ten scores 0) or "
        "the rule's entry in `rule_tolerances`. A dimension's score is the weighted mean of its "
        "rules' scores (`rule_weights`, 1 by default; rules with nothing to check are left out). "
        "Green at or above `green_at` (95), amber at or above `amber_at` (85), red below. "
        "Parameters: `params/quality.yaml`; weights and tolerances are keyed by the rule key below.",
        "",
        "评分：每条规则的通过率 = 1 - 不通过数 / 检查数（`*` 规则合并各表）；规则得分 = "
        "`100 * max(0, 1 - 不通过率 / 容忍度)`，默认容忍度 10%（十条记录中有一条不通过即为 0 分）；"
        "维度得分为其各规则得分的加权平均（默认权重均为 1，无可检查记录的规则不计）。"
        "不低于 95 为绿色，不低于 85 为黄色，否则为红色。参数见 `params/quality.yaml`，按下表的规则键设置。",
        "",
    ]
    names = {"authenticity": "真实性", "continuity": "连贯性", "validity": "有效性"}
    for dim in DIMENSIONS:
        lines += [
            f"## {dim} / {names[dim]}",
            "",
            "| rule key | checks | 检查内容 | fix-list issue: owner |",
            "|---|---|---|---|",
        ]
        for r in REGISTRY:
            if r.dimension != dim:
                continue
            fixes = "; ".join(f"`{f.issue}`: {f.owner}" for f in r.fixes)
            lines.append(f"| `{r.key}` | {_md(r.en)} | {_md(r.zh)} | {fixes} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def write_rules_markdown(path: str | os.PathLike[str] = "docs/quality_rules.md") -> Path:
    """Write :func:`rules_markdown` to ``path``."""
    return atomic_write_text(rules_markdown(), path)
