"""The report's fixed wording in English and Chinese, and the executive-summary sentences."""

from __future__ import annotations

import pandas as pd

from crm_analytics.report.plots import format_yuan, label

__all__ = ["TEXT", "gap_lines", "t"]

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "report": "CRM diagnostic report",
        "period": "Period {start} to {end}; previous round {cstart} to {cend}; data as of {as_of}.",
        "before_data": "Note: the {which} starts before this extract records both leads and "
        "service visits ({first}); its earlier months have no data, so their KPIs are missing "
        "or understated.",
        "which_period": "period",
        "which_comparison": "previous round",
        "summary": "Executive summary: the three biggest gaps",
        "no_gaps": "No KPI is below its target or the peer median.",
        "no_peers": "Peer comparison not available: peer medians need at least 3 dealers reported into the same run folder (crm-analytics report --all).",
        "kpis": "KPI tree: actual, target, peers, previous round",
        "funnel": "Showroom funnel",
        "leads_month": "Leads per month and channel",
        "previous": "Comparison with the previous coaching round",
        "consultants": "Sales consultants",
        "lists": "Action lists (sizes at the data date)",
        "quality": "Data quality",
        "quality_ok": "Every row passed the boundary checks.",
        "network": "Network overview",
        "ranking": "Ranking of all dealers",
        "masked": "Personal data is masked in this report.",
        "kpi_tree": "Showroom KPI tree (funnel rates with 95% intervals, target)",
        "diagnosis": "Diagnosis: weakest stages and the causes the data supports",
        "no_diagnosis": "No funnel stage is flagged below its target.",
        "profit": "Value-added and after-sales: contacts x penetration x unit margin",
        "base": "Customer base by lifecycle state",
        "churn": "After-sales churn risk of active service customers",
        "media": "Media efficiency per lead channel",
        "quality_cards": "Data-quality scorecard and visitor-log reconciliation",
        "list_reason": "customers",
        "from_run": "Numbers of the run {run} (the same as its report).",
        "on_the_spot": "Analysed here from the store: {why}",
        "data_date": "Data as of {as_of}.",
        "no_run": "no run of this dealer in {runs} (crm-analytics report, or make report); lead "
        "scores need one.",
        "run_stale": "the store changed after the run {run}; lead scores need a new run.",
        "run_other_settings": "the run {run} used other settings (period, targets or "
        "parameters); lead scores need a run with these.",
        "peers_from_store": "Peer medians computed here from the store's {n} dealers (no run).",
    },
    "zh": {
        "report": "CRM诊断报告",
        "period": "分析期 {start} 至 {end};上一轮 {cstart} 至 {cend};数据截至 {as_of}。",
        "before_data": "注意:{which}早于本数据开始同时记录线索和售后进厂的日期({first}),"
        "之前的月份没有数据,相关KPI缺失或偏低。",
        "which_period": "分析期",
        "which_comparison": "上一轮",
        "summary": "管理摘要:三大差距",
        "no_gaps": "所有指标均达到目标和同行中位数。",
        "no_peers": "暂无同行对比:同行中位数需要同一运行目录中至少3家经销商的报告(crm-analytics report --all)。",
        "kpis": "KPI树:实际、目标、同行、上一轮",
        "funnel": "展厅漏斗",
        "leads_month": "各渠道月度线索",
        "previous": "与上一轮辅导对比",
        "consultants": "销售顾问",
        "lists": "行动清单(截至数据日期的数量)",
        "quality": "数据质量",
        "quality_ok": "所有数据行均通过边界校验。",
        "network": "网络总览",
        "ranking": "全部经销商排名",
        "masked": "本报告已对个人信息脱敏。",
        "kpi_tree": "展厅KPI树(漏斗转化率、95%区间、目标)",
        "diagnosis": "诊断:最弱环节及数据支持的原因",
        "no_diagnosis": "没有低于目标的漏斗环节。",
        "profit": "增值业务与售后:接触量×渗透率×单位毛利",
        "base": "客户生命周期状态",
        "churn": "活跃售后客户的流失风险",
        "media": "各线索渠道的媒体效率",
        "quality_cards": "数据质量评分与来店登记核对",
        "list_reason": "客户数",
        "from_run": "数据来自运行 {run}(与其报告一致)。",
        "on_the_spot": "此处根据数据仓库现场分析:{why}",
        "data_date": "数据截至 {as_of}。",
        "no_run": "{runs} 中没有该经销商的运行(crm-analytics report 或 make report);线索评分需要运行。",
        "run_stale": "运行 {run} 之后数据仓库已更新;线索评分需要重新运行。",
        "run_other_settings": "运行 {run} 使用了其他设置(分析期、目标或参数);线索评分需要按当前设置运行。",
        "peers_from_store": "同行中位数由数据仓库中的 {n} 家经销商现场计算(无运行)。",
    },
}


def t(key: str, language: str = "en", **kw: object) -> str:
    """A fixed text of the report in ``language`` (English when missing), formatted with ``kw``."""
    text = TEXT.get(language, TEXT["en"]).get(key) or TEXT["en"][key]
    return text.format(**kw) if kw else text


def _fmt(kpi: str, v: float, language: str) -> str:
    return format_yuan(v, language) if kpi == "accessories_per_car" else f"{v:.1%}"


def gap_lines(gaps: pd.DataFrame, language: str = "en", *, n: int = 3) -> list[str]:
    """The ``n`` biggest gaps as sentences (one per KPI: its largest gap)."""
    top = gaps.drop_duplicates("kpi").head(n)
    lines = []
    for i, r in enumerate(top.itertuples(index=False), start=1):
        ref = label("target" if r.against == "target" else "peer", language)
        money = format_yuan(r.gap_yuan, language)
        if language == "zh":
            lines.append(
                f"{i}. {label(r.kpi, 'zh')}:实际 {_fmt(r.kpi, r.actual, language)},"
                f"{ref} {_fmt(r.kpi, r.reference, language)},差距约 {money}"
            )
        else:
            lines.append(
                f"{i}. {label(r.kpi, 'en')}: {_fmt(r.kpi, r.actual, language)} against "
                f"{ref} {_fmt(r.kpi, r.reference, language)}, worth about {money} in the period"
            )
    return lines
