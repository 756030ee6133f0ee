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
        # --- outputs and the run index (outputs15): workbooks, network scorecard ---
        "wb_summary": "summary",
        "wb_owner": "owner",
        "wb_owner_name": "owner name",
        "wb_role": "role",
        "wb_calls": "calls",
        "wb_records": "records",
        "wb_no": "no.",
        "wb_rank": "network rank",
        "wb_reason": "reason",
        "wb_customer": "customer id",
        "wb_customer_name": "customer",
        "wb_phone": "phone",
        "wb_other_phone": "other phone",
        "wb_due": "due date",
        "wb_detail": "detail",
        "wb_value": "value (yuan)",
        "wb_likelihood": "likelihood",
        "wb_expected": "expected margin (yuan)",
        "wb_issue": "issue",
        "wb_action": "what to do",
        "wb_table": "table",
        "wb_record": "record id",
        "wb_lead": "lead id",
        "wb_at": "recorded at",
        "wb_note": "note",
        "wb_unassigned": "unassigned",
        "idx_title": "Network scorecard",
        "idx_period": "Period {period}; data as of {as_of}.",
        "idx_counts": "{n} dealer(s): {ok} with a report, {failed} failed.",
        "idx_written": "Written {when}; {executed}; run time {run_time}.",
        "idx_local_pool": "local process pool, {n} worker(s)",
        "idx_dask": "Dask cluster {address}",
        "idx_rag": "Green: at or better than target; amber: within {tol:.0%} of it; red: "
        "further off. Click a column header to sort.",
        "idx_overview": "Network overview",
        "idx_dealer": "Dealer",
        "idx_name": "Name",
        "idx_status": "Status",
        "idx_gap": "Biggest gap (yuan in the period)",
        "idx_links": "Report and outputs",
        "idx_report": "report",
        "idx_call_lists": "call lists (Excel)",
        "idx_fix_list": "fix list (Excel)",
        "idx_failed_page": "what failed",
        "idx_no_gap": "none",
        "idx_vs_target": "(vs target)",
        "idx_vs_peer": "(vs peers)",
        "st_ok": "done",
        "st_skipped": "done (unchanged)",
        "st_failed": "failed",
        "st_timeout": "timed out",
        "st_missing": "not in the last run",
        "fix_load": "The dealer's data could not be read or analysed. Check it with "
        "`crm-analytics check --dealers {d}`, correct the file named above, then rerun "
        "`crm-analytics report --dealers {d} --force`.",
        "fix_notebook": "A report page stopped with an error (see 'what failed'). Rerun "
        "`crm-analytics report --dealers {d} --force`; if it fails again, send the page to "
        "the analytics team.",
        "fix_timeout": "The report took longer than the time limit. Rerun "
        "`crm-analytics report --dealers {d} --force --timeout 1800`.",
        "ov_dealers": "{n} dealer(s) with a report in this run.",
        "ov_benchmark": "Network quartiles of each KPI (the peer benchmark)",
        "ov_lists": "Call lists per dealer (customers at each dealer's data date)",
        "ov_q1": "lower quartile",
        "ov_q3": "upper quartile",
        "city": "City",
        "nb_dealer_report": "report",
        "nb_data_quality": "data quality",
        "nb_funnel_diagnostics": "funnel",
        "nb_value_added_aftersales": "value-added and after-sales",
        "nb_lifecycle_clv": "lifecycle and CLV",
        "nb_churn": "churn risk",
        "nb_attribution_media": "media",
        "nb_action_lists": "action lists",
        "nb_personas": "personas",
        "nb_network_overview": "Network overview",
        "idx_network_failed": "The network overview failed: {error}. Rerun the report command; "
        "the dealers' reports above are not affected.",
        "idx_various": "{first} to {last} (differs between dealers)",
        "rag_green": "on target",
        "rag_amber": "close",
        "rag_red": "off target",
        # --- end outputs15 ---
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
        # --- outputs and the run index (outputs15): workbooks, network scorecard ---
        "wb_summary": "汇总",
        "wb_owner": "负责人",
        "wb_owner_name": "负责人姓名",
        "wb_role": "岗位",
        "wb_calls": "回访数",
        "wb_records": "记录数",
        "wb_no": "序号",
        "wb_rank": "全店排名",
        "wb_reason": "回访原因",
        "wb_customer": "客户编号",
        "wb_customer_name": "客户",
        "wb_phone": "电话",
        "wb_other_phone": "其他电话",
        "wb_due": "截止日期",
        "wb_detail": "说明",
        "wb_value": "价值(元)",
        "wb_likelihood": "成功概率",
        "wb_expected": "预期毛利(元)",
        "wb_issue": "问题",
        "wb_action": "整改要求",
        "wb_table": "数据表",
        "wb_record": "记录编号",
        "wb_lead": "线索编号",
        "wb_at": "记录时间",
        "wb_note": "备注",
        "wb_unassigned": "未分配",
        "idx_title": "经销商网络记分卡",
        "idx_period": "分析期 {period};数据截至 {as_of}。",
        "idx_counts": "共 {n} 家经销商:{ok} 家已出报告,{failed} 家失败。",
        "idx_written": "生成于 {when};{executed};运行时间 {run_time}。",
        "idx_local_pool": "本机 {n} 个进程",
        "idx_dask": "Dask 集群 {address}",
        "idx_rag": "绿:达到或优于目标;黄:与目标相差 {tol:.0%} 以内;红:差距更大。点击列标题排序。",
        "idx_overview": "网络总览",
        "idx_dealer": "经销商",
        "idx_name": "名称",
        "idx_status": "状态",
        "idx_gap": "最大差距(分析期,元)",
        "idx_links": "报告与清单",
        "idx_report": "报告",
        "idx_call_lists": "回访清单(Excel)",
        "idx_fix_list": "整改清单(Excel)",
        "idx_failed_page": "失败详情",
        "idx_no_gap": "无",
        "idx_vs_target": "(对目标)",
        "idx_vs_peer": "(对同行)",
        "st_ok": "完成",
        "st_skipped": "完成(无变化)",
        "st_failed": "失败",
        "st_timeout": "超时",
        "st_missing": "不在最近一次运行中",
        "fix_load": "无法读取或分析该经销商的数据。请运行 `crm-analytics check --dealers {d}` "
        "检查,修正上面指出的文件后重新运行 `crm-analytics report --dealers {d} --force`。",
        "fix_notebook": "某个报告页面运行出错(见“失败详情”)。请重新运行 "
        "`crm-analytics report --dealers {d} --force`;如仍失败,请把该页面发给数据分析团队。",
        "fix_timeout": "报告运行超过时间限制。请重新运行 "
        "`crm-analytics report --dealers {d} --force --timeout 1800`。",
        "ov_dealers": "本次运行中有 {n} 家经销商的报告。",
        "ov_benchmark": "各指标的网络四分位数(同行基准)",
        "ov_lists": "各经销商回访清单(截至各自数据日期的客户数)",
        "ov_q1": "下四分位",
        "ov_q3": "上四分位",
        "city": "城市",
        "nb_dealer_report": "报告",
        "nb_data_quality": "数据质量",
        "nb_funnel_diagnostics": "漏斗",
        "nb_value_added_aftersales": "增值与售后",
        "nb_lifecycle_clv": "生命周期与客户价值",
        "nb_churn": "流失风险",
        "nb_attribution_media": "媒体",
        "nb_action_lists": "行动清单",
        "nb_personas": "客户画像",
        "nb_network_overview": "网络总览",
        "idx_network_failed": "网络总览生成失败:{error}。请重新运行报告命令;上面各经销商的报告不受影响。",
        "idx_various": "{first} 至 {last}(各经销商不同)",
        "rag_green": "达标",
        "rag_amber": "接近",
        "rag_red": "未达标",
        # --- end outputs15 ---
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
