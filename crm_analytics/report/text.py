"""The report's one glossary (zh / en) and its fixed sentences.

Every name a reader sees — KPI, section, table header, index name, verdict, cause, lifecycle
state, call list, channel, profit line — comes from :data:`GLOSSARY` (English, Chinese: the
deck's terms, see the glossary of the project's source deck); every fixed sentence from
:data:`TEXT`. :func:`label` looks a name up, :func:`t` a sentence; :func:`missing_labels` lists
the keys a view would show untranslated, which the language test uses.

Number formats live here too, so both languages write numbers the same way: rates as
percentages, rate changes in percentage points (``pp`` / ``个百分点``), money in yuan.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

from crm_analytics.core.schema import CHANNEL_LABELS_ZH

__all__ = [
    "GLOSSARY",
    "network_column",
    "why",
    "TEXT",
    "date_span",
    "fmt_count",
    "fmt_date",
    "fmt_num",
    "fmt_pct",
    "fmt_pp",
    "fmt_prob",
    "fmt_window",
    "fmt_value",
    "format_yuan",
    "is_missing",
    "label",
    "missing_labels",
    "t",
]

#: KPI -> unit (``share``: a rate shown as %, ``yuan``, ``days``, ``minutes``, ``count``).
KPI_UNITS: dict[str, str] = {
    "accessories_per_car": "yuan",
    "showroom_dwell_minutes": "minutes",
    "order_cycle_days": "days",
    "order_to_delivery_days": "days",
}

GLOSSARY: dict[str, tuple[str, str]] = {
    # -- coaching action plans (issue 17 item 7; the deck's slide 48) --------------------------
    "coaching_round": ("Round", "辅导日期"),
    "plan_status": ("Status", "执行状态"),
    "plan_baseline": ("At the round", "辅导时"),
    "plan_change": ("Change (95% interval)", "变化(95%区间)"),
    "overdue": ("Overdue?", "逾期?"),
    "plan.open": ("open", "进行中"),
    "plan.done": ("done", "已完成"),
    "plan.dropped": ("dropped", "已放弃"),
    "plan.reached": ("reached", "已达标"),
    "plan.improved": ("improved", "改善"),
    "plan.unchanged": ("unchanged", "无明显变化"),
    "plan.worse": ("worse", "变差"),
    "plan.no_data": ("no data", "无数据"),
    # -- external name lists screened (issue 17 item 3; DIGEST section 4) ---------------------
    "list_source": ("List source", "名单来源"),
    "list.auto_show": ("Auto show", "车展"),
    "list.partner": ("Cross-industry partner", "异业合作"),
    "external_list": ("External list", "外部名单"),
    "list.list_exchange": ("List exchange", "名单交换"),
    "list_rows": ("Names on the lists", "名单条数"),
    "list_invalid": ("Invalid phone", "无效号码"),
    "list_duplicate": ("Repeated on the list", "名单内重复"),
    "list_open_lead": ("Open lead already", "已有在跟进线索"),
    "list_existing_customer": ("Customer already", "已是客户"),
    "list_new": ("New names", "新名单"),
    "list_new_share": ("New share", "新名单占比"),
    "list_leads": ("Became leads", "转为线索"),
    "list_visits": ("Visited", "到店"),
    "list_orders": ("Ordered", "下订"),
    "list_cost": ("List cost", "名单费用"),
    "list_cost_per_order": ("Cost per order", "每单成本"),
    "dcc": ("DCC specialist", "DCC专员"),
    "manager": ("Manager", "经理"),
    "general_manager": ("General manager", "总经理"),
    # -- funnel volumes and KPIs (the deck's showroom KPI tree, slides 39-41) -----------------
    "leads": ("Leads", "线索"),
    "visited": ("Visited the showroom", "到店"),
    "test_drive": ("Test drive", "试乘试驾"),
    "ordered": ("Orders", "成交"),
    "won": ("Orders", "成交"),
    "delivered": ("Deliveries", "交车"),
    "lead_count": ("Leads", "线索数"),
    "visit_count": ("Visiting leads", "到店线索数"),
    "test_drive_count": ("Test drives", "试驾数"),
    "quote_count": ("Quoted leads", "报价数"),
    "order_count": ("Orders", "订单数"),
    "delivery_count": ("Deliveries", "交车数"),
    "visit_rate": ("Visit rate", "到店率"),
    "test_drive_rate": ("Test-drive rate", "试驾率"),
    "quote_rate": ("Quote rate", "报价率"),
    "order_rate": ("Order rate (orders / quotes)", "报价成交率"),
    "visit_to_order_rate": ("Closing ratio (orders / visits)", "到店成交率"),
    "lead_to_order_rate": ("Lead-to-order rate", "线索成交率"),
    "delivery_rate": ("Order-to-delivery rate", "订单交车率"),
    "walk_in_lead_count": ("Walk-in leads", "自然进店线索数"),
    "referral_lead_count": ("Referral leads", "转介绍线索数"),
    "auto_show_leads": ("Auto-show leads", "车展线索数"),
    "online_leads": ("Online leads", "网络线索数"),
    "front_desk_sales_arrivals": ("Sales arrivals at the front desk", "前台销售到店登记数"),
    "walk_in_registration_rate": ("Walk-in registration rate", "散客留档率"),
    "first_invitation_visit_rate": ("First-invitation visit rate", "首次邀约到店率"),
    "repeat_invitation_visit_rate": ("Repeat-invitation visit rate", "再次邀约到店率"),
    "invitation_acceptance_rate": ("Invitation acceptance rate", "邀约接受率"),
    "showroom_dwell_minutes": ("Showroom dwell time (minutes)", "展厅停留时长(分钟)"),
    "same_day_quote_order_rate": ("Same-day quote-to-order rate", "报价当日成交率"),
    "quote_revisit_rate": ("Quote re-visit rate", "报价后再到店率"),
    "order_cycle_days": ("Average order cycle (days)", "平均成交周期(天)"),
    "order_to_delivery_days": ("Order-to-delivery time (days)", "订单至交车天数"),
    "order_cancellation_rate": ("Order cancellation rate", "订单取消率"),
    "open_leads": ("Leads still open", "未结案线索数"),
    # -- headline value-added and after-sales KPIs --------------------------------------------
    "finance_penetration": ("Finance penetration", "金融渗透率"),
    "insurance_penetration": ("New-car insurance penetration", "新车保险渗透率"),
    "extended_warranty_penetration": ("Extended-warranty penetration", "延保渗透率"),
    "trade_in_penetration": ("Trade-in penetration", "二手车置换渗透率"),
    "accessories_per_car": ("Accessories per car (yuan)", "单车精品(元)"),
    "service_retention": ("Service retention (12 months)", "售后保有率(12个月)"),
    "insurance_renewal_rate": ("Insurance renewal rate", "续保率"),
    "quarantine_share": ("Rows quarantined", "隔离行占比"),
    # -- table headers and chart furniture ----------------------------------------------------
    "kpi": ("KPI", "指标"),
    "actual": ("Actual", "实际"),
    "target": ("Target", "目标"),
    "peer": ("Peer median", "同行中位数"),
    "previous": ("Previous round", "上一轮"),
    "change": ("Change", "变化"),
    "status": ("Status", "状态"),
    "value": ("Value", "数值"),
    "interval": ("95% interval", "95%区间"),
    "interval_m": ("Margin 80% interval", "毛利80%区间"),
    "visits_interval": ("Visits 80% interval", "进厂次数80%区间"),
    "vc_unit_value": ("Margin per purchase", "每次毛利"),
    "vc_take_up": ("Take-up", "参与率"),
    "vc_per_year": ("Times a year", "每年次数"),
    "vc_years": ("Years", "年数"),
    "vc_value": ("Value over five years", "五年价值"),
    "first_year_insurance": ("First-year insurance", "首年保险"),
    "service": ("Service", "售后维保"),
    "extension_products": ("Extension products", "延伸产品"),
    "total": ("Total", "合计"),
    "(no lead)": ("Not from a lead", "无对应线索"),
    "reception": ("Front desk", "前台"),
    "by_channel": ("By lead channel", "按线索渠道"),
    "by_model": ("By car model", "按车型"),
    "window": ("Cohort", "统计口径"),
    "value_before": ("Previous round", "上一轮"),
    "value_after": ("This period", "本期"),
    "significant": ("Beyond chance?", "显著?"),
    "yes": ("yes", "是"),
    "no": ("no", "否"),
    "stage": ("Stage", "环节"),
    "cause": ("Candidate cause", "可能原因"),
    "verdict": ("Verdict", "结论"),
    "evidence": ("Evidence", "依据"),
    "orders_at_stake": ("Orders a year at stake", "每年可增订单"),
    "business": ("Business", "业务"),
    "line": ("Line", "项目"),
    "contacts": ("Contacts", "接触量"),
    "penetration": ("Penetration", "渗透率"),
    "unit_margin": ("Unit margin (yuan)", "单位毛利(元)"),
    "gross_profit_col": ("Gross profit (yuan)", "毛利(元)"),
    "what_if_gain": ("Gain at target (yuan)", "达标增利(元)"),
    "cost": ("Media cost (yuan)", "媒体费用(元)"),
    "orders": ("Orders", "订单"),
    "cost_per_lead": ("Cost per lead (yuan)", "单条线索成本(元)"),
    "roi": ("Return on media cost ((profit - cost) / cost)", "媒体投入回报((毛利-费用)/费用)"),
    "consultant": ("Sales consultant", "销售顾问"),
    "dimension": ("Dimension", "维度"),
    "score": ("Score (0-100)", "得分(0-100)"),
    "worst_rules": ("Weakest rules", "最差规则"),
    "rule": ("Rule", "规则"),
    "pass_rate": ("Pass rate", "通过率"),
    "failed": ("Failing records", "不合格记录"),
    "owner_role": ("Owner", "负责人"),
    "records": ("Records to fix", "待整改记录"),
    "reason": ("List", "清单"),
    "customers": ("Customers", "客户数"),
    "share_of_high": ("Share of the high-risk customers", "占高风险客户比例"),
    "expected_margin": ("Expected margin", "预期毛利"),
    "due_by": ("Due by", "完成期限"),
    "gap": ("Gap", "差距"),
    "against": ("Against", "对比"),
    "gap_yuan": ("Gap (yuan per period)", "差距(元/期)"),
    "action": ("Action", "行动"),
    "expected_gain": ("Expected gain (yuan)", "预期收益(元)"),
    "state": ("Lifecycle state", "生命周期状态"),
    "share": ("Share", "占比"),
    "risk_band": ("Churn-risk band", "流失风险等级"),
    "grade": ("Intent grade", "意向等级"),
    "month": ("Month", "月份"),
    "count": ("Count", "数量"),
    "rows": ("Rows", "行数"),
    "table": ("Table", "数据表"),
    "dealer": ("Dealer", "经销商"),
    "channel": ("Channel", "渠道"),
    "model": ("Car model", "车型"),
    "yuan": ("yuan", "元"),
    "item": ("Item", "项目"),
    "forecast": ("Forecast", "预测"),
    "low_bound": ("Low (80%)", "下限(80%)"),
    "high_bound": ("High (80%)", "上限(80%)"),
    "persona": ("Persona", "客户画像"),
    "size": ("Customers", "客户数"),
    "description": ("Profile", "特征"),
    "csi": ("Satisfaction (CSI)", "满意度(CSI)"),
    "responses": ("Responses", "回复数"),
    "defeat_reason": ("Defeat reason", "战败原因"),
    "red": ("red", "红"),
    "amber": ("amber", "黄"),
    "green": ("green", "绿"),
    "gap_vs_target": ("gap vs target", "与目标差距"),
    "gap_vs_peer": ("gap vs peers", "与同行差距"),
    "gaps_title": ("Biggest gaps, yuan per period", "最大差距(元/期)"),
    "kpi_title": ("KPIs against target and peers", "关键指标:目标与同行对比"),
    "funnel_title": ("Showroom funnel", "展厅漏斗"),
    "quality_title": ("Rows quarantined per table", "各数据表隔离行占比"),
    "ranking_title": ("Dealer ranking", "经销商排名"),
    "median": ("network median", "网络中位数"),
    # -- verdicts of the diagnosis ------------------------------------------------------------
    "supports": ("supports", "支持"),
    "inconclusive": (
        "inconclusive: below target within sampling error",
        "不确定:未达标但在抽样误差内",
    ),
    "rules out": ("rules out", "排除"),
    "no reference": ("no target or peers", "无目标或同行参照"),
    "no data": ("not measurable from CRM records", "CRM数据无法衡量"),
    # -- the deck's candidate causes (slide 41; metrics.funnel.CAUSES) -------------------------
    "outside events (auto shows)": ("Outside events (auto shows)", "外展活动(车展)"),
    "online media": ("Online media", "网络媒体"),
    "walk-in registration rate": ("Walk-in registration rate", "散客留档率"),
    "walk-in traffic": ("Walk-in traffic", "自然进店客流"),
    "referrals from existing customers": ("Referrals from existing customers", "老客户转介绍"),
    "in-store events": ("In-store events", "店内活动"),
    "visit rate of each channel": ("Visit rate of each channel", "各渠道到店率"),
    "first-invitation visit rate": ("First-invitation visit rate", "首次邀约到店率"),
    "repeat-invitation visit rate": ("Repeat-invitation visit rate", "再次邀约到店率"),
    "invitation scripts (proxy: invitation acceptance rate)": (
        "Invitation scripts (measured by the invitation acceptance rate)",
        "邀约话术(以邀约接受率衡量)",
    ),
    "proactive visits": ("Proactive visits", "主动到店"),
    "showroom dwell time": ("Showroom dwell time", "展厅停留时长"),
    "needs analysis": ("Needs analysis", "需求分析"),
    "product scripts": ("Product scripts", "产品话术"),
    "re-invitation (repeat-invitation visit rate)": (
        "Re-invitation (repeat-invitation visit rate)",
        "再次邀约(再次邀约到店率)",
    ),
    "average order cycle": ("Average order cycle", "平均成交周期"),
    "same-day quote-to-order rate": ("Same-day quote-to-order rate", "报价当日成交率"),
    "quote re-visit rate": ("Quote re-visit rate", "报价后再到店率"),
    "team selling in the showroom": ("Team selling in the showroom", "展厅团队销售"),
    "order control (cancellations)": ("Order control (cancellations)", "订单管控(取消)"),
    "stock / delivery process (order-to-delivery days)": (
        "Stock and delivery process (order-to-delivery days)",
        "库存与交车流程(订单至交车天数)",
    ),
    "test-drive fleet availability": ("Test-drive fleet availability", "试驾车可用性"),
    # -- data-quality dimensions and reconciliation -------------------------------------------
    "authenticity": ("Authenticity", "真实性"),
    "continuity": ("Continuity", "连贯性"),
    "validity": ("Validity", "有效性"),
    "quality_scores": ("Data-quality score per dimension (0-100)", "数据质量各维度得分(0-100)"),
    "sales_arrivals": ("Sales arrivals in the visitor log", "客流登记销售到店"),
    "matched": ("Matched to a DMS visit", "与DMS到店匹配"),
    "unregistered": ("Not registered in the DMS", "未在DMS留档"),
    "not_recorded": ("Registered without a visit record", "留档但无到店记录"),
    "registration_rate": ("Walk-in registration rate", "散客留档率"),
    "dms_visits": ("DMS visits", "DMS到店记录"),
    "phantom": ("DMS visits with no arrival in the log", "DMS有记录但客流无登记"),
    "unverifiable": ("Unverifiable (no log that day)", "无法核实(当日无客流登记)"),
    "missing_log_days": ("Days without a visitor log", "缺失客流登记天数"),
    "anomalous_rows": ("Visitor-log rows out of pattern", "异常客流登记行"),
    "crm": ("CRM specialist", "CRM专员"),
    "sales_consultant": ("Sales consultant", "销售顾问"),
    "service_advisor": ("Service advisor", "服务顾问"),
    "sales_manager": ("Sales manager", "销售经理"),
    "service_manager": ("After-sales manager", "售后经理"),
    "f_and_i_manager": ("Finance and insurance manager", "金融保险经理"),
    "front_desk": ("Front desk", "前台"),
    # -- lifecycle states ---------------------------------------------------------------------
    "new": ("New (not yet a customer)", "新增客户"),
    "prospect": ("Prospect", "潜客"),
    "defeated": ("Defeated (lost sale)", "战败"),
    "own_store_new": ("New owner (bought here)", "本店新车主"),
    "bought_elsewhere": ("Bought elsewhere", "他店购车"),
    "regular": ("Regular", "常客"),
    "floating": ("Floating", "游离客户"),
    "dormant": ("Dormant", "休眠"),
    "lost": ("Lost", "流失"),
    "states_title": ("Customers per lifecycle state", "各生命周期状态客户数"),
    # -- call lists (actions.call_lists.REASONS) ----------------------------------------------
    "trade_in": ("Trade-in", "置换"),
    "recall": ("Recall", "召回"),
    "dormant_activation": ("Dormant activation", "休眠激活"),
    "insurance_renewal": ("Insurance renewal", "续保"),
    "maintenance_due": ("Maintenance due", "保养到期"),
    "defeated_reactivation": ("Defeated reactivation", "战败再激活"),
    "referral": ("Referral", "转介绍"),
    "warranty_end": ("Warranty ending", "质保到期"),
    "finance_end": ("Finance ending", "金融到期"),
    "open_h_a_leads": ("Open H and A leads", "未结案H/A级线索"),
    "lists_title": ("Call-list size per list", "各类回访清单数量"),
    "owner": ("Staff member", "负责员工"),
    "calls": ("Calls", "回访数"),
    "value_at_stake": ("Value at stake", "涉及价值"),
    "load_ratio": ("Load against the role's mean", "负荷(相对同岗位均值)"),
    "expected_value": ("Expected value", "预期价值"),
    "rank": ("Priority", "优先序"),
    "list_rank": ("Place in its list", "清单内序号"),
    "customer_name": ("Name", "姓名"),
    "customer_phone": ("Phone", "电话"),
    "due_date": ("Due", "到期日"),
    "department": ("Department", "部门"),
    "converted": ("Converted", "转化数"),
    "conversion_rate": ("Conversion rate", "转化率"),
    "margin": ("Gross margin", "毛利"),
    "margin_per_customer": ("Margin per customer", "单客毛利"),
    "staff": ("Staff", "在岗人数"),
    "margin_per_staff": ("Margin per staff member", "人均毛利"),
    "dept.sales": ("Sales", "销售部"),
    "dept.after_sales": ("After-sales", "售后部"),
    "dept.insurance": ("Insurance renewal", "续保"),
    "dept.crm_dcc": ("CRM desk and DCC", "客户关系部与DCC"),
    "visits": ("Showroom visits", "到店"),
    "takers": ("Takers", "办理数"),
    "reference": ("Reference", "对比值"),
    "shortfall": ("Shortfall", "差距"),
    "base": ("Base (contacts in the period)", "基数(期内接触量)"),
    "cost_per_visit": ("Cost per visit (yuan)", "单次到店成本(元)"),
    "cost_per_delivery": ("Cost per delivery (yuan)", "单台交车成本(元)"),
    "orders_gross_profit": ("Gross profit of the orders (yuan)", "订单毛利(元)"),
    "attr.first_touch": ("First touch", "首次接触"),
    "attr.last_touch": ("Last touch", "末次接触"),
    "attr.linear": ("Linear", "线性平分"),
    "attr.position_based": ("Position-based (40/20/40)", "位置加权(40/20/40)"),
    "attr.time_decay": ("Time decay", "时间衰减"),
    "attr.markov_1": ("Markov, first order", "一阶马尔可夫"),
    "attr.markov_2": ("Markov, second order", "二阶马尔可夫"),
    "attr.markov_3": ("Markov, third order", "三阶马尔可夫"),
    "attr.shapley_simplified": ("Shapley (simplified)", "沙普利值(简化)"),
    "attr.shapley": ("Shapley", "沙普利值"),
    "customer_age_band": ("Customer age", "客户年龄段"),
    "journeys": ("Journeys", "客户旅程数"),
    "journeys_with": ("Journeys with the channel", "含该渠道的旅程"),
    "conversion_rate_with": ("Order rate with the channel", "含该渠道的成交率"),
    "conversion_rate_without": ("Order rate without it", "不含该渠道的成交率"),
    "lift": ("Lift", "提升倍数"),
    "share_markov_1": ("Share of orders (Markov)", "订单贡献占比(马尔可夫)"),
    "survey_kind": ("Survey", "调查"),
    "answers": ("Answers", "回答数"),
    "matches": ("Matching the DMS", "与DMS一致"),
    "accuracy": ("Accuracy", "一致率"),
    "survey.defeated_survey": ("Defeated-lead survey", "战败回访"),
    "survey.delivery_interview": ("Delivery interview", "交车访谈"),
    "survey.intent_survey": ("Intent survey", "意向调查"),
    "survey.sales_satisfaction": ("Sales satisfaction (CSI)", "销售满意度(CSI)"),
    "survey.service_satisfaction": ("Service satisfaction", "售后满意度"),
    "survey_event.delivery": ("Deliveries", "交车"),
    "survey_event.service_visit": ("Service visits", "售后进店"),
    "survey_event.first_visit": ("First showroom visits", "首次到店"),
    "survey_event.visit_without_order": ("Visits without an order", "到店未成交"),
    "survey_follows": ("After", "对象"),
    "surveys_due": ("Due", "应调查"),
    "surveys_answered": ("Answered", "已回答"),
    "survey_response_rate": ("Response rate", "回复率"),
    "personas_title": ("Customers per persona", "各客户画像人数"),
    # -- lead channels ------------------------------------------------------------------------
    "online_inquiry": ("Online inquiry", "网络询价"),
    "phone_inquiry": ("Phone inquiry", "电话询价"),
    "walk_in": ("Walk-in", "展厅自然进店"),
    "auto_show": ("Auto show", "车展/外展"),
    "partner_list": ("Partner list", "异业合作名单"),
    "dcc_outbound": ("DCC outbound", "DCC外呼邀约"),
    # -- profit lines (metrics.penetration.profit_decomposition) ------------------------------
    "new_car": ("New car", "新车"),
    "after_sales": ("After-sales", "售后"),
    "insurance_line": ("Insurance", "保险"),
    "vehicle": ("New vehicle", "新车"),
    "finance": ("Finance", "金融"),
    "insurance": ("New-car insurance", "新车保险"),
    "accessories": ("Accessories", "精品"),
    "extended_warranty": ("Extended warranty", "延保"),
    "maintenance": ("Maintenance", "保养"),
    "repair": ("Repair", "维修"),
    "warranty": ("Warranty repair", "保修"),
    "accident": ("Accident repair", "事故"),
    "care": ("Car care", "养护美容"),
    "value_added_items": ("Value-added items", "售后增值项目"),
    "gross_profit": ("Gross profit per business line in the period", "各业务线毛利(分析期)"),
    # -- media and churn ----------------------------------------------------------------------
    "cost_per_order": ("Cost per order (yuan)", "单个订单成本(元)"),
    "media_title": ("Media cost per order by channel", "各渠道单个订单媒体成本"),
    "churn_bands_title": (
        "Active service customers per churn-risk band",
        "活跃售后客户流失风险分布",
    ),
    "churn.recency": ("Long silence against the customer's own rhythm", "超出自身保养节奏未回厂"),
    "churn.frequency": ("Few service visits", "进厂次数少"),
    "churn.spend": ("Low or unusual service spend", "售后消费低或异常"),
    "churn.vehicle_age": ("Vehicle age and mileage", "车龄与里程"),
    "churn.warranty": ("Warranty expired or expiring", "质保已过或将到期"),
    "churn.finance_insurance": ("Finance or insurance ended", "金融或保险到期"),
    "churn.bought_elsewhere": ("Car bought at another dealer", "他店购车"),
    "churn.satisfaction": ("Low satisfaction scores", "满意度低"),
    "churn.complaints": ("Unresolved complaint", "投诉未解决"),
    "churn.distance": ("Lives far from the dealer", "居住地距离远"),
    "churn.value_added": ("Took few value-added products", "增值产品购买少"),
    "churn.dealer": ("Dealer-wide retention level", "本店整体保有水平"),
    "csi.intent": ("Intended customers", "意向客户"),
    "csi.sales": ("Sales", "销售"),
    "csi.delivery": ("Delivery", "交车"),
    "csi.service": ("After-sales service", "售后服务"),
    "csi.defeated": ("Defeated customers", "战败客户"),
    "defeat.price": ("Price", "价格"),
    "defeat.bought_other_dealer": ("Bought at another dealer", "在其他经销商购买"),
    "defeat.bought_competitor": ("Bought a competitor's brand", "购买竞品"),
    "defeat.postponed": ("Postponed the purchase", "推迟购车"),
    "defeat.lost_contact": ("Lost contact", "失去联系"),
    "defeat.financing_rejected": ("Financing rejected", "贷款未获批"),
    "defeat.product_fit": ("Product does not fit", "产品不符合需求"),
    "expected_visits": ("Service visits", "售后进厂次数"),
    "expected_margin_m": ("After-sales gross margin (yuan)", "售后毛利(元)"),
    # -- persona vocabulary (core.schema USES, INDUSTRIES, HOBBIES, MEDIA) and profile ---------
    "use.family": ("family", "家用"),
    "use.commute": ("commuting", "通勤"),
    "use.business": ("business", "商务"),
    "use.leisure": ("leisure", "休闲"),
    "industry.finance": ("finance", "金融业"),
    "industry.it": ("IT", "IT业"),
    "industry.manufacturing": ("manufacturing", "制造业"),
    "industry.trade": ("trade", "贸易"),
    "industry.public_sector": ("public sector", "公共部门"),
    "industry.healthcare": ("healthcare", "医疗"),
    "industry.education": ("education", "教育"),
    "industry.real_estate": ("real estate", "房地产"),
    "industry.self_employed": ("self-employed", "自营业主"),
    "hobby.golf": ("golf", "高尔夫"),
    "hobby.travel": ("travel", "旅行"),
    "hobby.photography": ("photography", "摄影"),
    "hobby.fitness": ("fitness", "健身"),
    "hobby.reading": ("reading", "阅读"),
    "hobby.fishing": ("fishing", "钓鱼"),
    "hobby.wine": ("wine", "红酒"),
    "hobby.outdoor": ("outdoor sports", "户外运动"),
    "media.autohome": ("Autohome", "汽车之家"),
    "media.dongchedi": ("Dongchedi", "懂车帝"),
    "media.wechat": ("WeChat", "微信"),
    "media.douyin": ("Douyin", "抖音"),
    "media.outdoor_ads": ("outdoor ads", "户外广告"),
    "media.tv": ("TV", "电视"),
    "media.friends": ("friends", "亲友推荐"),
    "media.show": ("auto show", "车展"),
    "mean_age": ("Mean age", "平均年龄"),
    "male_share": ("Men", "男性占比"),
    "top_use": ("Use of the car", "用车场景"),
    "top_industry": ("Industry", "行业"),
    "top_model": ("Car model", "车型"),
    "top_hobbies": ("Hobbies", "爱好"),
    "top_media_seen": ("Media seen", "信息来源"),
    # -- churn and lead scores ------------------------------------------------------------
    "customer_id": ("Customer id", "客户编号"),
    "churn_probability": ("Churn probability (12 months)", "流失概率(12个月)"),
    "reason_1": ("Main reason", "主要原因"),
    "reason_2": ("Second reason", "次要原因"),
    "reason_3": ("Third reason", "第三原因"),
    "method": ("Method", "方法"),
    "churn_reason": ("Reason", "原因"),
    "p_alive": ("P(still active)", "存活概率"),
    "months_since_visit": ("Months since the last visit or purchase", "距上次到店或购车月数"),
    "roc_auc": ("Ranking accuracy (AUC)", "排序准确率(AUC)"),
    "lift_top_decile": ("Lift in the riskiest 10%", "最高风险10%的提升倍数"),
    "positive_rate": ("Churned in the 12 months", "12个月内流失比例"),
    "method.model": ("Churn model (this report)", "流失模型(本报告)"),
    "method.recency_days": ("Days since the last visit", "距上次进厂天数"),
    "method.recency_rule": ("Rule: overdue against own rhythm", "规则:超出自身保养节奏"),
    "method.p_alive": ("BG/NBD P(alive)", "BG/NBD 存活概率"),
    "method.survival_model": ("Survival model alone", "仅用生存模型"),
    "lead_id": ("Lead id", "线索编号"),
    "recorded_grade": ("Grade recorded by the consultant", "顾问记录的等级"),
    "p_7d": ("P(order in 7 days)", "7天内成交概率"),
    "p_30d": ("P(order in 30 days)", "30天内成交概率"),
    "p_90d": ("P(order in 90 days)", "90天内成交概率"),
    "high": ("High risk", "高风险"),
    "medium": ("Medium risk", "中风险"),
    "low": ("Low risk", "低风险"),
    # -- speed-to-lead, complaints, service by vehicle age, month-to-date pacing ---------------
    "responded": ("Answered", "已响应"),
    "median_minutes": ("Median first response (min)", "首次响应中位数(分钟)"),
    "p90_minutes": ("90% answered within (min)", "90分位响应时间(分钟)"),
    "within_5_min": ("Answered within 5 min", "5分钟内响应"),
    "within_15_min": ("Answered within 15 min", "15分钟内响应"),
    "within_60_min": ("Answered within 60 min", "60分钟内响应"),
    "response_band": ("First response", "首次响应时间"),
    "conversion": ("Lead-to-order rate", "线索成交率"),
    "rate_ratio": ("Against the fastest band", "相对最快档(倍)"),
    "no_response": ("No response", "未响应"),
    "all_inbound": ("All inbound channels", "全部集客渠道"),
    "complaint_category": ("Complaint about", "投诉类别"),
    "complaints_col": ("Complaints", "投诉数"),
    "complaint.repair_quality": ("Repair quality", "维修质量"),
    "complaint.waiting_time": ("Waiting time", "等待时间"),
    "complaint.price": ("Price", "价格"),
    "complaint.staff_attitude": ("Staff attitude", "服务态度"),
    "complaint.parts_availability": ("Parts availability", "配件供应"),
    "complaint.broken_promise": ("Broken promise", "未兑现承诺"),
    "complaint_stage.sales": ("Sales", "销售"),
    "complaint_stage.delivery": ("Delivery", "交车"),
    "complaint_stage.service": ("After-sales service", "售后服务"),
    "complaint_stage.insurance": ("Insurance", "保险"),
    "median_response_hours": ("Median first response (hours)", "首次响应中位数(小时)"),
    "median_resolution_days": ("Median resolution (days)", "解决时长中位数(天)"),
    "open_complaints": ("Still open", "未解决"),
    "reopen_rate": ("Reopened after resolution", "解决后重开率"),
    "complainers": ("Customers who complained", "投诉客户数"),
    "retained": ("Serviced again", "再次进厂"),
    "retention": ("Retention", "保有率"),
    "resolved_group": ("Complaint resolved", "投诉已解决"),
    "unresolved_group": ("Complaint unresolved", "投诉未解决"),
    "retention_gap": ("Unresolved minus resolved", "未解决减已解决"),
    "age_band": ("Vehicle age", "车龄"),
    "vehicles_sold_here": ("Vehicles sold here", "本店售出车辆"),
    "serviced_12m": ("Serviced in the last 12 months", "近12个月进厂"),
    "age_at_visit": ("Vehicle age at the visit", "进厂时车龄"),
    "repair_orders": ("Repair orders", "维修工单数"),
    "customer_pay_share": ("Customer-pay share of orders", "客户付费工单占比"),
    "customer_pay_revenue": ("Customer-pay revenue (yuan)", "客户付费产值(元)"),
    "maker_paid_revenue": ("Warranty and recall revenue (yuan)", "索赔与召回产值(元)"),
    "customer_pay_revenue_share": ("Customer-pay share of revenue", "客户付费产值占比"),
    "unknown age": ("Age unknown", "车龄未知"),
    "all_ages": ("All ages", "全部车龄"),
    "measure": ("Measure", "指标"),
    "so_far": ("So far this month", "本月至今"),
    "month_target": ("Month target", "月度目标"),
    "target_to_date": ("Target to date (pro rata)", "按进度应完成"),
    "ahead_behind": ("Ahead (+) or behind (−)", "超前(+)或落后(−)"),
    "projected": ("Projected month end", "预计月底"),
    "projected_interval": ("80% interval", "80%区间"),
    "target_basis": ("Target from", "目标来源"),
    "basis.given": ("Set target", "设定目标"),
    "basis.last_year": ("Same month last year", "去年同月"),
    "basis.recent": ("Average of the last 3 months", "近3个月平均"),
    "basis.none": ("No target", "无目标"),
    "pace.leads": ("New leads", "新增线索"),
    "pace.orders": ("Orders (not cancelled)", "订单(未取消)"),
    "pace.deliveries": ("Deliveries", "交车"),
    "deliveries": ("Deliveries", "交车数"),
    "by_consultant": ("By sales consultant", "按销售顾问"),
    "unassigned": ("Unassigned", "未分配"),
    "none": ("none", "无"),
    # -- data-quality and funnel notebooks (secondary views) ----------------------------------
    "table.staff": ("Staff", "员工"),
    "table.customers": ("Customers", "客户"),
    "table.vehicles": ("Vehicles", "车辆"),
    "table.leads": ("Leads", "线索"),
    "table.touchpoints": ("Touch points (DMS events)", "接触记录(DMS)"),
    "table.orders": ("Orders", "订单"),
    "table.service_visits": ("Service visits (repair orders)", "售后进厂(工单)"),
    "table.insurance_policies": ("Insurance policies", "保单"),
    "table.surveys": ("Satisfaction surveys", "满意度调查"),
    "table.visitor_log": ("Front-desk visitor log", "展厅客流登记"),
    "table.channel_costs": ("Media costs", "渠道费用"),
    "table.complaints": ("Complaints", "投诉"),
    "rule.phone_format": ("Valid phone number", "电话号码有效"),
    "rule.placeholder_record": ("No placeholder or test record", "无占位或测试记录"),
    "rule.duplicate_person": ("One person, one customer id", "一人一档"),
    "rule.staff_phone": ("No staff phone as a customer's", "客户电话不是员工电话"),
    "rule.phone_typo": ("Phone as given at the front desk", "电话与前台登记一致"),
    "rule.visit_has_arrival": ("DMS visit has a front-desk arrival", "DMS到店有前台登记"),
    "rule.one_repair_order": ("One visit, one repair order", "一次进厂一张工单"),
    "rule.arrival_in_dms": ("Front-desk arrival registered in the DMS", "前台来店已在DMS留档"),
    "rule.no_missing_day": ("Visitor log kept every open day", "营业日均有客流登记"),
    "rule.no_silent_month": ("Records in every month", "每月均有记录"),
    "rule.followup_within_days": ("Open lead followed up in time", "未关闭线索按时跟进"),
    "rule.visit_before_stage": (
        "Visit before test drive, quote and order",
        "试驾、报价、订单前有到店记录",
    ),
    "rule.quote_before_order": ("Quote before the order", "订单前有报价"),
    "rule.delivery_has_order": ("Delivery has its order", "交车有对应订单"),
    "rule.has_parent": ("Linked record exists", "关联记录存在"),
    "rule.chronology": ("Dates in order", "时间顺序正确"),
    "rule.row_rules": ("Types, values and required fields", "类型、取值与必填项"),
    "rule.not_after_as_of": ("No date after the data date", "无晚于数据截止日的记录"),
    "rule.phone_required": ("Customer has a phone", "客户有电话"),
    "rule.consultant_required": ("Consultant named", "已指定销售顾问"),
    "rule.inside_opening_hours": ("Arrival within opening hours", "来店时间在营业时间内"),
    "rule.no_duplicate_entry": ("Visitor registered once", "访客不重复登记"),
    "issue.phone_format": ("Invalid phone", "电话无效"),
    "issue.placeholder_record": ("Placeholder or test record", "占位或测试记录"),
    "issue.duplicate_person": ("Same person, second customer id", "重复建档"),
    "issue.staff_phone": ("Staff phone entered", "填写了员工电话"),
    "issue.phone_typo": ("Phone one digit off", "电话差一位"),
    "issue.log_phone_format": ("Invalid phone on the hand card", "来店登记电话无效"),
    "issue.phantom_visit": ("DMS visit without arrival", "DMS到店无前台登记"),
    "issue.duplicate_repair_order": ("Repair order keyed twice", "工单重复录入"),
    "issue.unregistered_walk_in": ("Walk-in not registered", "散客未留档"),
    "issue.visit_not_recorded": ("Visit not entered in the DMS", "到店未录入DMS"),
    "issue.missing_log_day": ("Day without a visitor log", "当日无客流登记"),
    "issue.silent_month": ("Month without records", "整月无记录"),
    "issue.followup_overdue": ("Follow-up overdue", "跟进逾期"),
    "issue.missing_stage": ("Stage record missing", "缺失阶段记录"),
    "issue.delivery_without_order": ("Delivery without order", "交车无订单"),
    "issue.quarantined": ("Rejected on import", "导入时被拒收"),
    "issue.phone_required": ("Phone missing", "缺少电话"),
    "issue.consultant_required": ("No consultant assigned", "未指派销售顾问"),
    "issue.outside_opening_hours": ("Arrival outside opening hours", "营业时间外来店"),
    "issue.duplicate_entry": ("Visitor registered twice", "访客重复登记"),
    "checked": ("Records checked", "检查记录数"),
    "rules_count": ("Rules", "规则数"),
    "rule_checks": ("What it checks", "检查内容"),
    "arrivals": ("Sales arrivals", "销售来店"),
    "phantom_rate": ("Share of DMS visits with no arrival", "无客流登记的DMS到店占比"),
    "rows_in": ("Rows read", "读取行数"),
    "kept": ("Rows kept", "保留行数"),
    "quarantined": ("Rows rejected", "拒收行数"),
    "issue": ("Issue", "问题"),
    "fix_owner": ("To be fixed by", "整改负责人"),
    "fix_action": ("What to do", "整改要求"),
    "record_id": ("Record", "记录编号"),
    "record_date": ("Recorded on", "记录日期"),
    "parent": ("Parent KPI", "上级指标"),
    "stage_check": ("Reading", "判断"),
    "below target beyond sampling error": (
        "below target beyond sampling error",
        "低于目标(超出抽样误差)",
    ),
    "low among peers": ("low among peers", "在同行中偏低"),
    "meets target and peers": ("meets target and peers", "达到目标和同行水平"),
    "forecast_of": ("Forecast of", "预测对象"),
    "interval_80": ("80% interval", "80%区间"),
    "from_pipeline": ("From open leads and orders", "来自在途线索和订单"),
    "from_new_leads": ("From next month's new leads", "来自下月新增线索"),
    "open_units": ("Open now", "目前在途"),
    "expected_new_leads": ("New leads expected", "预计新增线索"),
    "months_tested": ("Months tested", "回测月数"),
    "mean_actual": ("Actual, mean per month", "月均实际"),
    "mae_model": ("Mean error: this forecast", "平均误差:本预测"),
    "mae_seasonal_naive": ("Mean error: same month last year", "平均误差:去年同月"),
    "mae_trailing_mean": ("Mean error: last 12 months' average", "平均误差:近12个月平均"),
    "coverage80": ("Actual within the 80% interval", "实际落在80%区间内"),
    "coverage95": ("Actual within the 95% interval", "实际落在95%区间内"),
    # CRM desk and lost contacts (issue 17 items 4-5)
    "desk_list.delivery_callback": ("Delivery callback", "交车回访"),
    "desk_list.service_reminder": ("Service reminder", "保养提醒"),
    "desk_list.dormant_activation": ("Dormant activation", "休眠激活"),
    "desk_list.lead_follow_up": ("Lead follow-up", "线索跟进"),
    "lost_reason.invalid_phone": ("Invalid phone", "号码无效"),
    "lost_reason.wrong_number": ("Wrong or void number", "空号或错号"),
    "lost_reason.no_answer": ("Never answers", "持续无人接听"),
    "desk_coverage.callback_attempted": ("Callback attempted", "已拨打回访"),
    "desk_coverage.callback_reached": ("Callback reached", "回访已接通"),
    "desk_coverage.interviewed": ("Delivery interview answered", "已完成交车访谈"),
    "call_attempts": ("Call attempts", "拨打次数"),
    "customers_called": ("Customers called", "拨打客户数"),
    "customers_reached": ("Customers reached", "接通客户数"),
    "reach_rate": ("Reach rate", "接通率"),
    "calls_reached": ("Calls reached", "接通次数"),
    "calls_converted": ("Converted", "转化数"),
    "call_conversion_rate": ("Conversion of reached calls", "接通后转化率"),
    "desk_staff": ("Called by", "拨打人"),
    "deliveries_judged": ("Deliveries", "交车数"),
    "deliveries_covered": ("Within the limit", "时限内完成"),
    "coverage_share": ("Coverage", "覆盖率"),
    "limit_days": ("Limit (days)", "时限(天)"),
    "lost_customers": ("Customers", "客户数"),
    "lost_customer_share": ("Share of customers", "占客户比例"),
    "lost_owners": ("Owners", "车主数"),
    "lost_owner_share": ("Share of owners (the base)", "占基盘车主比例"),
    "lost_reason": ("Why", "原因"),
    "failed_attempts": ("Failed attempts", "失败次数"),
    "last_attempt": ("Last attempt", "最近拨打"),
    "last_reached": ("Last reached", "最近接通"),
    "recontact": ("Re-contact: a new number", "失联客户重新联系"),
    # key accounts and events (issue 17)
    "ka_industry": ("Industry", "行业"),
    "ka_phone": ("Phone", "电话"),
    "ka_vehicles": ("Vehicles", "车辆数"),
    "ka_orders": ("Orders", "订单数"),
    "ka_revenue": ("Sales value", "销售额"),
    "ka_margin": ("Gross margin", "毛利"),
    "ka_finance": ("Finance", "金融渗透率"),
    "ka_insurance": ("Insurance", "保险渗透率"),
    "ka_extended_warranty": ("Extended warranty", "延保渗透率"),
    "ka_accessories": ("Accessories", "精品渗透率"),
    "ka_service_visits": ("Service visits", "进厂次数"),
    "ka_last_contact": ("Last contact", "最近接触"),
    "ka_sales_share": ("Share of the dealer's orders", "占本店订单"),
    "industry.logistics": ("logistics", "物流"),
    "industry.car_rental": ("car rental", "汽车租赁"),
    "ev_events": ("Events", "活动场次"),
    "ev_kind": ("Kind", "活动类型"),
    "ev_dates": ("Dates", "日期"),
    "ev_cost": ("Event cost", "活动费用"),
    "ev_leads": ("Leads", "线索"),
    "ev_visits": ("Showroom visits", "到店"),
    "ev_orders": ("Orders", "订单"),
    "ev_cost_per_lead": ("Cost per lead", "单条线索成本"),
    "ev_cost_per_order": ("Cost per order", "单台订单成本"),
    "ev_complete": ("Follow-up complete", "跟进期已满"),
    "event.in_store": ("In-store event", "店内活动"),
    "event.outside": ("Outside event", "店外活动"),
    "ev.yes": ("yes", "是"),
    "ev.no": ("not yet", "未满"),
    "table.events": ("Marketing events", "市场活动"),
}


def label(key: str, lang: str = "en") -> str:
    """The display name of ``key`` in ``lang`` (:data:`GLOSSARY`; channels also from the
    schema's Chinese channel names). An unknown key comes back with its underscores turned
    into spaces (:func:`missing_labels` finds such keys before a reader does)."""
    key = str(key)
    idx = 1 if lang == "zh" else 0
    if key in GLOSSARY:
        return GLOSSARY[key][idx]
    if lang == "zh" and key in CHANNEL_LABELS_ZH:
        return CHANNEL_LABELS_ZH[key]
    return key.replace("_", " ")


def missing_labels(keys: Iterable[Any]) -> list[str]:
    """The keys among ``keys`` that :data:`GLOSSARY` does not name (in order, once each)."""
    out: list[str] = []
    for k in keys:
        k = str(k)
        if k not in GLOSSARY and k not in CHANNEL_LABELS_ZH and k not in out:
            out.append(k)
    return out


TEXT: dict[str, dict[str, str]] = {
    "en": {
        "table_more_rows": "… {n} rows not shown",
        "renewal_line": "Insurance renewals as a contract (shifted-beta-geometric model of the "
        "{vehicles} vehicles whose first policy was sold here; the period's renewal rate "
        "({kpi}) counts every policy due that the DMS knows of): {first} renew here at the first "
        "renewal and {last} at the {years}th{rising}; a new owner renews here {expected} times "
        "in a row within {years} years on average (a renewal after a lapse is not counted).",
        "renewal_rising": ", rising as the loyal owners stay",
        "renewal_flat": ", the same each year (the owners look alike)",
        "renewal_what_if": "With the renewal rate at its target {target} (now {kpi}) and the "
        "first renewal lifted in the same proportion, to {aim}: {at_target} renewals in a row "
        "per new owner, {gain} more margin each (at {unit} per renewal), about {per_year} a "
        "year for the {new} first policies sold {start} to {end}.",
        "renewal_at_target": "The renewal rate ({kpi}) is at or above its target ({target}).",
        "states_as_of": "Customers in each lifecycle state on {as_of} (each customer counts in "
        "one state).",
        "churn_as_of": "Active service customers on {as_of} by their risk of making no service "
        "visit in the next {months} months (bands on the model's probability: high from "
        "{high}, medium from {medium}).",
        "title_data_quality": "Data quality",
        "title_funnel_diagnostics": "Showroom funnel diagnostics",
        "title_value_added_aftersales": "Value-added services and after-sales",
        "title_attribution_media": "Media and channel attribution",
        "title_action_lists": "Action lists",
        "external_lists": "External name lists screened",
        "external_lists_note": "{lists} lists with {rows} names (auto shows, cross-industry "
        "partners, list exchanges), each name checked against the DMS on the day its list "
        "arrived: invalid phone, repeated on the list, already an open lead, already a "
        "customer, or new. Phones are compared as digits (+86, spaces and dashes removed; one "
        "digit apart counts under the same surname). The new names go to the DCC's call list; "
        "became leads, visited and ordered count the new names that did so after the list "
        "arrived.",
        "external_lists_handover": "{n} new names were handed to the DCC's call list (sheet "
        "“{sheet}” of the call-list workbook).",
        "external_lists_missing": "{n} list file(s) not found and left out of the screening: "
        "{sources}. The run's notes name each file: put it in the store folder or correct its "
        "path in the dealer's parameter file.",
        "wb_external_lists": "external lists",
        "plan_review": "Action plans of the earlier coaching rounds",
        "plan_note": "Items agreed at the earlier coaching rounds (params/dealers/{dealer}.yaml). "
        "At the round: the value recorded with the item; where none was recorded (marked †), "
        "the previous round's period {cstart} to {cend}. This period: {start} to {end}. Rate "
        "changes in percentage points with their 95% interval (a recorded rate with the sampling "
        "error of the previous round's volume). "
        "Overdue: open and due before the data date {as_of}. Verdict: reached (the item's "
        "target), improved or worse (the interval excludes no change; by the sign where there "
        "is no interval), unchanged (within the interval).",
        "plan_none": "No action plan of an earlier round is recorded for this dealer. To review "
        "one at the next round, list the items agreed at this round in "
        "params/dealers/{dealer}.yaml under the key coaching (each with its round, KPI, action, "
        "owner, due date and status), or start from the proposed plan below.",
        "plan_later": "Items agreed on or after {end}, the end of this period: {n}. They are "
        "reviewed from the next period on.",
        "plan_next": "Proposed action plan for the next round",
        "plan_next_note": "The executive summary's gaps as the action items of this round "
        "({round}): the KPI now, the target or peer median its gap is priced against, the gap, "
        "the owner and the due date. Agree them with the dealer, then add them to "
        "params/dealers/{dealer}.yaml under the key coaching: the next report reviews each one.",
        "plan_next_link": "The proposed plan as a parameter file (YAML), ready to paste",
        "plan_file_header": "Proposed action plan of dealer {dealer}, coaching round of {round} "
        "(crm-analytics report).\nAgree it with the dealer, then add the items to "
        "params/dealers/{dealer}.yaml under 'coaching:'.\nThe next report reviews each item: "
        "its KPI at the round (baseline) and then, the target, the due date and the status "
        "(open, done or dropped).",
        "idx_action_plan": "next round's action plan (YAML)",
        "report": "CRM diagnostic report",
        "period": "Period {start} to {end}; previous round {cstart} to {cend}; data as of {as_of}.",
        "before_data": "Note: the {which} starts before this extract records both leads and "
        "service visits ({first}); its earlier months have no data, so their KPIs are missing "
        "or understated.",
        "which_period": "period",
        "which_comparison": "previous round",
        "contents": "Contents",
        "summary": "Executive summary: the biggest gaps and what to do",
        "summary_note": "Gaps are priced for the period {start} to {end}: shortfall x volume "
        "x unit gross margin. The expected gain of a list is the sum of its customers' expected "
        "margins (probability of success x value).",
        "no_gaps": "No KPI is below its target or the peer median.",
        "no_peers": "Peer comparison not available: peer medians need at least 3 dealers in "
        "the same run.",
        "gap_line": "{i}. {kpi}: {actual} against {ref} {reference} ({window}), worth {money} "
        "in the period.",
        "gap_cause": "Why: {cause}.",
        "gap_action": "Action: {action}",
        "list_action": "work the {list} list: {n} customers, owner {owner}, due by {due}; "
        "expected margin {gain}.",
        "no_list": "no call list addresses this KPI; the {owner} sets it with the team at the "
        "point of sale.",
        "h_a_action": "invite the open H and A leads: {n} leads, owner sales consultants, "
        "due by {due}.",
        "open_leads_action": "invite the period's open leads: {n} leads (not graded in this "
        "run), owner sales consultants, due by {due}.",
        "b_leads_action": "no open lead is graded H or A (likely to order within 15 days); "
        "invite the open B leads first: {n} leads, owner sales consultants, due by {due}.",
        "c_leads_action": "no open lead is likely to order within 30 days (all graded C); "
        "follow up every open lead: {n} leads, owner sales consultants, due by {due}.",
        "no_open_leads_action": "no open lead to invite: the sales consultants invite each new "
        "lead as it comes in; check again by {due}.",
        "kpis": "Headline KPIs: actual, target, peers, previous round",
        "kpis_note": "Rates of the period {start} to {end} (leads created, deliveries, service "
        "visits dated in it); changes in percentage points (pp). Status: green at or above "
        "target, amber within 10% of it, red further off.",
        "peer_median_note": "Peer median: the median of the other {n} dealers of this run.",
        "funnel": "Showroom funnel",
        "kpi_tree": "Showroom KPI tree (95% intervals, target)",
        "kpi_tree_note": "Cohort: leads created {start} to {end}. KPIs that need time to "
        "mature (marked *) are on the cohort {mstart} to {mend}, which has {days} days of "
        "follow-up; in the period's own cohort {lead_share} of the leads and {order_share} of "
        "the orders are younger than {days} days.",
        "diagnosis": "Diagnosis: flagged stages and the candidate causes",
        "flagged_stage": "{stage}: {value} against target {target} ({window}); {why}.",
        "no_diagnosis": "No funnel stage is flagged: none is below its target or its peers by "
        "more than sampling error. A red or amber mark in the KPI tree whose 95% interval still "
        "reaches the target can be chance at this dealer's volume; watch it next period.",
        "previous": "Comparison with the previous coaching round",
        "profit": "Value-added and after-sales: contacts x penetration x unit margin",
        "profit_note": "Period {start} to {end}. The last column is the gross profit the line "
        "would add at its target penetration (what-if), all else equal.",
        "predictability": "Predictability: this month's orders and the owner base",
        "forecast_line": "Orders forecast for {month}: {mid} (80% interval {lo} to {hi}), "
        "from the open pipeline and new leads at {as_of}.",
        "projection_note": "Today's owners projected 36 months forward (BG/NBD): service visits "
        "and after-sales gross margin (yuan) per month, with 80% intervals.",
        "previous_note": "This period {start} to {end} against the previous round {cstart} to "
        "{cend}; rate changes in percentage points, counts per month.",
        "projection_line": "Owner base in {months} months: {end} active owners expected "
        "(today {start}).",
        "lifecycle": "Lifecycle and dormancy",
        "clv": "Lifetime value",
        "clv_line": "Value chain of one loyal customer over five years (deck method): {chain}. "
        "Expected after-sales value of today's owners over 3 years (BG/NBD x Gamma-Gamma): "
        "{total} in all, {mean} per owner; {alive} of them likely still active.",
        "churn": "After-sales churn risk of active service customers",
        "churn_quality": "How good is the risk ranking? Trained before {cutoff} and checked on "
        "the following 12 months: the customers ranked riskiest churned {lift} times as often "
        "as the average; the model orders pairs of customers correctly {auc} of the time; 50% "
        "would be guessing, and the range in brackets is the 95% interval.",
        "top_reasons": "Most frequent reasons behind the high-risk scores (up to three per "
        "customer)",
        "immature_note": "* Still maturing: {share} of this period's leads are younger than "
        "{days} days and may still order, so this period's value is understated; read the KPI "
        "tree's matured value.",
        "csi_note": "Satisfaction (CSI, 0-100) of every survey up to {as_of}, per stage of the "
        "customer's journey, with its 95% interval.",
        "defeat_note": "Why leads were lost from {start} to {end} (defeated leads with a "
        "recorded reason).",
        "transitions": "Customers moving between lifecycle states, {start} to {end} (rows: "
        "state at the start, columns: state at the end)",
        "activation": "{n} dormant customers on {as_of} (the state table above); {listed} of "
        "them are on the dormant-activation call list{covered}. Its first 20, ranked by the "
        "margin a call is expected to bring (activation rate x P(still active) x the value at "
        "stake: the 3-year after-sales value of an owner with service visits here, a year's "
        "service margin for one without):",
        "activation_covered": ", {k} on the maintenance-due list instead",
        "value_chain_heading": "Value chain of one loyal customer over five years (deck method)",
        "clv_spread": "Expected after-sales value over 3 years of the {n} owners: a quarter "
        "below {q1}, half below {q2}, three quarters below {q3}, the top tenth above {q9}; on "
        "average {alive} still active.",
        "churn_count": "{n} active customers at {as_of} (service customers); {expected} of "
        "them are expected to stop coming for service in the next 12 months.",
        "top_customers": "The 25 customers at highest risk and their main reasons",
        "churn_check": "How good is the risk ranking?",
        "churn_check_note": "Each method ranked the customers as they were on {cutoff}; the "
        "table shows how well that ranking picked out who stopped coming in the following 12 "
        "months. Ranking accuracy is the chance that a churner is ranked above a customer who "
        "stayed (50% is guessing), in brackets its 95% interval: where two methods' intervals "
        "overlap, the difference between them is within chance; lift is how many times more "
        "churners the riskiest tenth holds than the average.",
        "leads_section": "Lead intent",
        "no_lead_model": "Lead grades come from the network lead model of a batch run "
        "(crm-analytics report); this report was opened without one.",
        "personas_note": "{n} known customers grouped by a latent-class model on use of the "
        "car, media seen, hobbies, industry, gender, age and model (data as of {as_of}). One "
        "dealer's personas are a sketch: read the shares, not the details. Each answer column "
        "names what sets the persona apart (answers more frequent in it than among all "
        "customers), with its share of the persona.",
        "persona_name": "Persona {i}",
        "leads_note": "Open leads at {as_of} graded by the network model: H = order likely "
        "within 7 days, A within 15, B within 30, C later.",
        "media": "Attribution and media",
        "media_note": "Leads created {start} to {end} and the orders they gave; media cost of "
        "the same months.",
        "consultants": "Sales consultants",
        "lists": "Action lists at {as_of}",
        "lists_rank_note": "Each list is ranked by the gross margin a call is expected to bring: "
        "the share of such calls that succeed, times the customer's chance of still being active "
        "(from the churn and dormancy models, else from the days since the last visit), times the "
        "value at stake in yuan; the lists' weights then order the calls across lists.",
        "owner_load_note": "Calls per staff member at {as_of}, and each one's load against the "
        "mean of the same role (1.00× is an even share).",
        "calendar_note": "Calls due per week from {as_of}; overdue calls are in the first week.",
        "week_of": "Week of {date}",
        "top_calls_note": "The first {n} calls across all lists at {as_of}, highest priority "
        "first.",
        "departments": "Department efficiency",
        "gaps_note": "Shortfalls of the period {start} to {end} against target and against the peer "
        "median, priced as shortfall x base x unit margin; rates in percentage points.",
        "media_period_note": "Leads created {start} to {end}, the orders and deliveries they gave and the "
        "media cost of the same months.",
        "attribution_title": "Orders credited to each channel, by attribution model",
        "attribution_note": "Customer journeys (every touch in the {days} days before a lead's first "
        "order or its close) of the whole extract to {as_of}; each column shares the same orders "
        "among the channels by its own rule. The Shapley column credits each channel with its "
        "effect on the order rate of the journeys it joins, so a channel whose journeys order less "
        "often than those without it gets a negative share.",
        "persona_channels_title": "Channel effect by customer age",
        "persona_channels_note": "Customers interviewed (delivery interview, defeated-lead or intent "
        "survey); lift is the order rate with the channel over the rate without it, within one "
        "age group. Groups with fewer than {n} journeys are left out.",
        "recall_title": "Does the DMS channel match what customers recall?",
        "recall_note": "Survey answers to the question how the customer first heard of us, against "
        "the lead's channel in the DMS, to {as_of}; with a 95% interval.",
        "departments_note": "The 12 months to {as_of}: sales (leads to deliveries), after-sales "
        "(owners served to returning owners), insurance (policies ending to renewed here), CRM "
        "desk and DCC (customers contacted to visits within 30 days).",
        "satisfaction": "Satisfaction and defeat reasons",
        "personas": "Customer personas",
        "quality": "Data quality",
        "quality_cards": "Data quality: three dimensions, weakest rules, fix lists",
        "quality_note": "Over the whole extract. A dimension's score (0-100) is the mean of its "
        "rules' scores, so one rule that fails most of its records pulls it down even when "
        "nearly every record passes (the pass rate column); the fix list sends each failing "
        "record to the person who holds it.",
        "recon": "Visitor log against the DMS ({start} to {end})",
        "quality_ok": "Every row passed the boundary checks on import.",
        "quarantine": "Rows quarantined on import",
        "masked": "Personal data is masked in this report.",
        "font_fallback": "Chart labels are in English: no Chinese font is installed on the "
        "machine that made this report.",
        "base": "Customer base by lifecycle state",
        "list_reason": "customers",
        "not_available": "Not available: {why}",
        "insufficient": "too few records for this dealer",
        "short_history": "the data does not yet cover enough months for it",
        "not_computable": "it cannot be computed from this dealer's data",
        "no_lead_grades": "No lead grades in this run: {why}",
        "incomplete": "* on the matured cohort (see above)",
        "unit_pp": "pp",
        "network": "Network overview",
        "ranking": "Ranking of all dealers",
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
        "speed_section": "Speed to lead: first response to inbound leads",
        "speed_note": "Inbound leads (online and phone inquiries, auto shows, partner lists, "
        "referrals) created {start} to {end}: minutes from the lead's creation to the dealer's "
        "first response. Shares are of all the channel's leads, unanswered ones included.{events}",
        "speed_events": " The {n} leads captured at the dealer's own events (met face to face, "
        "nothing to wait for) are left out here and below.",
        "speed_bands_note": "Leads created {start} to {end} (at least {days} days old, so their "
        "outcome is known): lead-to-order rate by first-response time, with 95% intervals.",
        "speed_effect": "Answered within {minutes} min, inbound leads ordered {rr} times as "
        "often as those answered later (95% interval {lo} to {hi}; each channel compared with "
        "itself; {fast} fast and {slow} slow leads created {start} to {end}). {verdict}",
        "effect_clear": "Faster response converts better beyond chance.",
        "effect_unclear": "The difference is within chance.",
        "complaints_section": "Complaint handling",
        "complaints_note": "Complaints opened {start} to {end}, by what they are about (rows) "
        "and the stage they arose in (columns).",
        "complaints_sla_note": "Service levels: first response within {hours} hours, resolution "
        "within {days} days of opening. Complaints opened {start} to {end}; a complaint is "
        "judged once its level has run out (answered late or not at all by {as_of}). The "
        "reopen rate is among resolved complaints (95% interval).",
        "sla_response_col": "Answered within {hours} h",
        "sla_resolution_col": "Resolved within {days} days",
        "complaint_retention_note": "Each customer's first complaint opened {start} to {end}: "
        "share with a service visit within {days} days after it, resolved against unresolved "
        "complaints (95% intervals; the gap in percentage points).",
        "aftersales_section": "After-sales by vehicle age: retention and customer-pay mix",
        "retention_age_note": "Vehicles sold here, by age at {as_of}: share with a service "
        "visit from {start} to {as_of} (12 months), with 95% intervals. Vehicles under one "
        "year old are left out.",
        "pay_mix_note": "Repair orders {start} to {end}, by vehicle age at the visit: work the "
        "customer pays for against warranty and recall work (paid by the maker); revenue is "
        "labour plus parts in yuan.",
        "pacing": "Month-to-date pacing, {month}",
        "pacing_note": "{month} up to {as_of}: {worked} of {days} open days ({open}; "
        "holidays not excluded). Month targets are pro-rated by open days; the month "
        "end is projected at this month's daily pace, with an 80% interval.",
        "pacing_alert": "Alert: {measure} {actual} against {expected} due by {as_of} ({gap} "
        "behind); at this pace {projected} by the month end (80% interval {lo} to {hi}) "
        "against the target {target}.",
        "pacing_alert_final": "Alert: {measure} ended the month at {actual} against the target "
        "{target} ({gap} short).",
        "pacing_ok": "Every measure with a target is on pace.",
        "penetration_by_note": "Deliveries {start} to {end}, {group}: share of the deliveries "
        "taking each value-added line. Lines that differ between the groups beyond chance "
        "(chi-square test at 5%): {lines}.",
        "pacing_none": "No month target: the data do not cover the same month last year or "
        "the last three months.",
        "leads_month": "Leads per month and channel",
        "from_run": "Numbers of the run {run} (the same as its report).",
        "on_the_spot": "Analysed here from the store: {why}",
        "spot_kept": "(The analysis made on {at} for an earlier notebook of this dealer, with "
        "the same data and settings.)",
        "data_date": "Data as of {as_of}.",
        "no_run": "no run of this dealer in {runs} (crm-analytics report, or make report); lead "
        "scores need one.",
        "run_stale": "the store changed after the run {run}; lead scores need a new run.",
        "run_other_settings": "the run {run} used other settings (period, targets or "
        "parameters); lead scores need a run with these.",
        "peers_from_store": "Peer medians computed here from the store's {n} dealers (no run).",
        # --- data-quality and funnel notebooks (secondary views) ---
        "dq_scores_note": "Over the whole extract, {start} to {end}. Each rule scores 0-100 from "
        "its failing records (0 once {tolerance} of them fail); a dimension's score is the mean "
        "of its rules' scores: green from {green}, amber from {amber}, red below. The pass rate "
        "pools every record checked.",
        "dq_dimensions": "Scores on the deck's three dimensions",
        "dq_rule_score": " (score {score:.1f})",
        "dq_by_table": "Score per table and dimension (– : no rule of that dimension checks the "
        "table).",
        "dq_rules": "Rules that failed at least one record, weakest first",
        "dq_rules_none": "No rule failed a record.",
        "dq_recon_note": "Every front-desk arrival against the DMS visits: "
        "walk-ins never registered in the DMS, and DMS visits with no arrival at the front desk "
        "(possibly fabricated). Counted over the whole visitor log above: the walk-in registration "
        "rate of the funnel KPIs is the same count over the report period only.",
        "dq_recon_consultants": "Per sales consultant",
        "dq_load": "Rows read and rejected on import",
        "dq_load_note": "Rows rejected on import, per table and rule (what the row broke).",
        "dq_fixes": "The fix list: records to send back to their owner",
        "dq_fixes_note": "{n} records to correct at {as_of}, per owner and issue. The "
        "{shown} most recent are listed below; the full list, one sheet per owner with the "
        "customers' names and phones (masked unless the run made contact lists), is the run's "
        "fix-list workbook (Excel).",
        "dq_fixes_none": "No record to correct.",
        "ev_churn_main": "{reason} is the main reason for {n} of {n_high} high-risk customers",
        "ev_churn_next": "; next most often: {reason} ({n})",
        "ev_stage_unexplained": (
            "{stage} is {value}, below target; no cause measured in the CRM data supports it, "
            "so check on site (see the diagnosis)"
        ),
        "fn_channels": "Funnel rates per lead channel",
        "fn_channels_note": "Leads created {start} to {end}, by the channel they came from.",
        "fn_consultants_note": "Leads created {start} to {end}, by the consultant holding them.",
        "fn_stages": "Every stage against its target and peers",
        "fn_stages_note": "Stages of the KPI tree judged as in the diagnosis: a stage is flagged "
        "when its 95% interval lies below the target, or when it ranks in the lowest quarter "
        "of the peers; the orders a year at stake are what meeting the target would add.",
        "fn_change": "All KPIs against the previous coaching round",
        "fn_forecast": "Next month's orders and deliveries",
        "fn_forecast_note": "Forecast for {month} from the leads and orders open at {as_of} and "
        "the new leads expected (a pipeline model by stage and age), with 80% and 95% "
        "intervals.",
        "fn_backtest_note": "How such forecasts did: the same model run at each of the {n} month "
        "ends {first} to {last}, against what happened the following month. Mean absolute "
        "error in units a month, beside two simple rules; and how often the actual fell inside "
        "the intervals.",
        # CRM desk and lost contacts (issue 17 items 4-5)
        "contact_section": "The CRM desk's calls and lost contacts",
        "desk_work_note": "Calls of the CRM and DCC desk from {start} to {end} per list ({lists}), "
        "told apart from the DMS records: a call on a lead is its follow-up, a call soon after a "
        "delivery its callback, a call to an owner seen within the year a service reminder, any "
        "other a dormant activation. Converted: the lead visited, or the customer came for "
        "service, within {days} days after a reached call (a callback converts nothing).",
        "desk_owners_note": "The same per list and per staff member who called, {start} to {end}.",
        "desk_coverage_note": "Deliveries from {start} to {end} whose limit has run out: a "
        "callback attempted and reached within {callback} days (the delivery interview, due "
        "within {interview} days, is in the survey table below). The deck asks for both on every "
        "delivery batch but sets no day limits: these are the dealer's settings.",
        "desk_surveys_note": "Survey response, {start} to {end}: of the events each survey "
        "follows whose limit has run out, the share answered by that survey within the limit "
        "(the DMS keeps answered surveys only, so the events are the base). A survey answers its "
        "customer's or lead's latest event before it.",
        "lost_contacts_note": "Lost-contact screening on {as_of}: {n} customers cannot be reached "
        "({share} of the customers, {owner_share} of the owners): an invalid phone in the DMS, a "
        "wrong or void number since they were last reached, or {streak} unanswered calls in a "
        "row over at least {days} days. A customer not called since the number stopped working "
        "cannot be seen here: the true share is higher.",
        "recontact_note": "Re-contact list (find a new number at the next visit, through the "
        "consultant who sold the car, or by message): the first {shown} of {n}, the strongest "
        "reason first.",
        "desk_staff_unknown": "not recorded",
        # key accounts and events (issue 17)
        "ka_section": "Key accounts and marketing events",
        "ka_accounts": "Key accounts",
        "ka_note": "Key accounts are the customers with at least {vehicles} vehicles or at "
        "least {orders} orders in the data ({start} to {end}); service visits are counted "
        "over the {months} months to {end}, value-added take-up is the share of the account's "
        "orders, and the share is of all the dealer's orders over the data.",
        "ka_none": "No customer reaches these thresholds.",
        "ka_total": "{n} key accounts own {vehicles} vehicles and placed {share} of the "
        "dealer's orders.",
        "ev_heading": "Marketing events",
        "ev_note": "{n} in-store and outside events from {start} to {end}. An event's leads "
        "are those it produced; its showroom visits and orders are those of its leads within "
        "{days} days of its end (counted to {as_of}; an event whose window is not over can "
        "still gain).",
        "ev_none": "No marketing event is recorded in the data.",
        "ev_table_note": "The latest {n} events.",
    },
    "zh": {
        "table_more_rows": "… 另有 {n} 行未显示",
        "renewal_line": "续保按合同型流失模型(移位贝塔几何模型,本店售出首年保险的 {vehicles} "
        "辆车;分析期续保率({kpi})按DMS所知的全部到期保单计算):首次续保率 {first},第{years}次续保率 "
        "{last}{rising};一位新车主{years}年内平均连续续保 {expected} 次(中断后再回来的续保不计)。",
        "renewal_rising": ",忠诚车主留下,续保率逐年上升",
        "renewal_flat": ",各年相同(车主之间差异不大)",
        "renewal_what_if": "若续保率达到目标 {target}(现为 {kpi}),首次续保率按同一比例升至 "
        "{aim}:每位新车主平均连续续保 {at_target} 次,每位多 {gain} 毛利(每单续保 {unit}),按 "
        "{start} 至 {end} 售出的 {new} 份首年保单计,每年约 {per_year}。",
        "renewal_at_target": "续保率({kpi})已达到或超过目标({target})。",
        "states_as_of": "截至 {as_of} 各生命周期状态的客户数(每位客户只计入一个状态)。",
        "churn_as_of": "截至 {as_of} 的活跃售后客户,按未来{months}个月不再回厂的风险分级"
        "(按模型概率:高风险自 {high} 起,中风险自 {medium} 起)。",
        "title_data_quality": "数据质量",
        "title_funnel_diagnostics": "展厅漏斗诊断",
        "title_value_added_aftersales": "增值业务与售后",
        "title_attribution_media": "媒体与渠道归因",
        "title_action_lists": "行动清单",
        "external_lists": "外部名单筛查",
        "external_lists_note": "共{lists}份名单、{rows}条(车展、异业合作、名单交换),每条按名单到达当天的"
        "DMS核对:无效号码、名单内重复、已有在跟进线索、已是客户或新名单。号码按数字比对(去掉+86、空格和横线;"
        "同姓且只差一位数字也算同一人)。新名单交给DCC电话邀约;转为线索、到店、下订统计名单到达之后新名单的转化。",
        "external_lists_handover": "{n}条新名单已交给DCC电话邀约(见电话清单工作簿“{sheet}”页)。",
        "external_lists_missing": "{n}份名单文件未找到,未纳入筛查:{sources}。运行记录列出了每个文件;"
        "请把文件放到数据目录,或在经销商参数文件中改正路径。",
        "wb_external_lists": "外部名单",
        "plan_review": "历次辅导行动计划执行情况",
        "plan_note": "历次辅导约定的行动项(params/dealers/{dealer}.yaml)。辅导时:行动项记录的数值;"
        "未记录者(标 †)取上一轮 {cstart} 至 {cend} 的数值。本期:{start} 至 {end}。比率变化以百分点计,"
        "附95%区间(记录的比率按上一轮的业务量计抽样误差)。逾期:未完成且到期日早于数据日期 {as_of}。结论:已达标(达到行动项目标);"
        "改善或变差(区间不含零;无区间时按方向判断);无明显变化(在区间内)。",
        "plan_none": "本经销商尚未记录往轮辅导的行动计划。如需在下一轮回顾,请将本轮约定的行动项写入 "
        "params/dealers/{dealer}.yaml 的 coaching 键下(每项包括辅导日期、指标、行动、负责人、到期日和状态),"
        "或从下方的建议计划开始。",
        "plan_later": "在本期结束日 {end} 当天或之后约定的行动项:{n} 项,将从下一期开始回顾。",
        "plan_next": "下一轮行动计划(建议)",
        "plan_next_note": "执行摘要中的差距作为本轮({round})的行动项:当前数值、差距所对比的目标或同行中位数、"
        "差距金额、负责人和到期日。与经销商确认后,加入 params/dealers/{dealer}.yaml 的 coaching 键下;"
        "下一次报告将逐项回顾。",
        "plan_next_link": "建议行动计划的参数文件(YAML),可直接粘贴",
        "plan_file_header": "经销商 {dealer} 的建议行动计划,辅导日期 {round}(crm-analytics report)。\n"
        "与经销商确认后,将各项加入 params/dealers/{dealer}.yaml 的 'coaching:' 键下。\n"
        "下一次报告逐项回顾:辅导时的指标数值(baseline)与届时数值、目标、到期日和状态(open 进行中、done 已完成、"
        "dropped 已放弃)。",
        "idx_action_plan": "下一轮行动计划(YAML)",
        "report": "CRM诊断报告",
        "period": "分析期 {start} 至 {end};上一轮 {cstart} 至 {cend};数据截至 {as_of}。",
        "before_data": "注意:{which}早于本数据开始同时记录线索和售后进厂的日期({first}),"
        "之前的月份没有数据,相关指标缺失或偏低。",
        "which_period": "分析期",
        "which_comparison": "上一轮",
        "contents": "目录",
        "summary": "管理摘要:最大差距与行动",
        "summary_note": "差距按分析期 {start} 至 {end} 计算:差额 × 业务量 × 单位毛利。"
        "清单的预期收益为清单内客户预期毛利之和(成功概率 × 价值)。",
        "no_gaps": "所有指标均达到目标和同行中位数。",
        "no_peers": "暂无同行对比:同行中位数需要同一批次中至少3家经销商。",
        "gap_line": "{i}. {kpi}:实际 {actual},{ref} {reference}({window}),差距约 {money}。",
        "gap_cause": "原因:{cause}。",
        "gap_action": "行动:{action}",
        "list_action": "执行{list}清单:{n} 位客户,负责人 {owner},{due} 前完成;预期毛利 {gain}。",
        "no_list": "没有对应的回访清单;由{owner}在销售环节与团队落实。",
        "h_a_action": "邀约未结案的H/A级线索:{n} 条,负责人 销售顾问,{due} 前完成。",
        "open_leads_action": "邀约本期未结案线索:{n} 条(本次未分级),负责人 销售顾问,{due} 前完成。",
        "b_leads_action": "目前没有H/A级(预计15天内订车)的未结案线索;先邀约B级线索:{n} 条,负责人 销售顾问,{due} 前完成。",
        "c_leads_action": "目前没有预计30天内订车的未结案线索(均为C级);跟进全部未结案线索:{n} 条,负责人 销售顾问,{due} 前完成。",
        "no_open_leads_action": "目前没有未结案线索可邀约:销售顾问对新线索随到随邀,{due} 前复查。",
        "kpis": "关键指标:实际、目标、同行、上一轮",
        "kpis_note": "分析期 {start} 至 {end} 的指标(期内新建线索、交车、售后进厂);"
        "变化以百分点计。状态:达到或优于目标为绿,与目标相差10%以内为黄,差距更大为红。",
        "peer_median_note": "同行中位数:本批次其他 {n} 家经销商的中位数(不含本店)。",
        "funnel": "展厅漏斗",
        "kpi_tree": "展厅KPI树(95%区间、目标)",
        "kpi_tree_note": "口径:{start} 至 {end} 新建的线索。需要时间成熟的指标(标 *)按 "
        "{mstart} 至 {mend} 的线索计算,已有 {days} 天跟进期;本期线索中 {lead_share} 的线索和 "
        "{order_share} 的订单不足 {days} 天。",
        "diagnosis": "诊断:未达标环节及可能原因",
        "flagged_stage": "{stage}:{value},目标 {target}({window});{why}。",
        "no_diagnosis": "没有需要诊断的漏斗环节:没有环节低于目标或同行超出抽样误差。KPI树中标红或标黄、"
        "但95%区间仍覆盖目标的指标,在本店业务量下可能是偶然波动,请下期继续关注。",
        "previous": "与上一轮辅导对比",
        "profit": "增值业务与售后:接触量 × 渗透率 × 单位毛利",
        "profit_note": "分析期 {start} 至 {end}。最后一列为该项目渗透率达到目标时增加的毛利(假设分析)。",
        "predictability": "可预测性:本月订单与保有客户",
        "forecast_line": "{month} 订单预测:{mid} 台(80%区间 {lo} 至 {hi}),依据截至 {as_of} 的在途线索和新增线索。",
        "projection_note": "现有车主未来36个月走势(BG/NBD):每月售后进厂次数和售后毛利(元),含80%区间。",
        "previous_note": "本期 {start} 至 {end} 对比上一轮 {cstart} 至 {cend};比率变化以百分点计,数量按月计。",
        "projection_line": "{months} 个月后预计活跃保有客户 {end} 位(目前 {start} 位)。",
        "lifecycle": "生命周期与休眠客户",
        "clv": "客户终身价值",
        "clv_line": "一位忠诚客户五年价值链(课程方法):{chain}。现有车主未来3年售后预期价值"
        "(BG/NBD × Gamma-Gamma):合计 {total},人均 {mean};其中约 {alive} 位仍活跃。",
        "churn": "活跃售后客户的流失风险",
        "churn_quality": "风险排序是否可靠?以 {cutoff} 之前的数据训练,检验之后12个月:"
        "排名最高风险的客户流失率是平均的 {lift} 倍;模型对两位客户的风险排序正确率为 {auc};"
        "50%相当于随机,括号内为95%区间。",
        "top_reasons": "高风险客户最常见的原因(每位客户最多三个原因)",
        "immature_note": "* 尚未成熟:本期 {share} 的线索不足 {days} 天,仍可能成交,本期数值偏低;请以KPI树中的成熟口径为准。",
        "csi_note": "截至 {as_of} 全部调查的满意度(CSI,0-100),按客户旅程环节,含95%区间。",
        "defeat_note": "{start} 至 {end} 战败线索的原因(记录了原因的战败线索)。",
        "transitions": "{start} 至 {end} 生命周期状态之间的客户流动(行:期初状态,列:期末状态)",
        "activation": "截至 {as_of} 休眠客户 {n} 位(即上表);其中 {listed} 位在休眠激活清单中"
        "{covered}。清单前20位,按一次回访的预期毛利排序(激活成功率 × 仍活跃概率 × 涉及价值:"
        "在本店有进厂记录的车主为未来3年售后价值,无进厂记录的为一年的售后毛利):",
        "activation_covered": ",{k} 位已在保养到期清单中",
        "value_chain_heading": "一位忠诚客户五年价值链(课程方法)",
        "clv_spread": "{n} 位车主未来3年售后预期价值:四分之一低于 {q1},一半低于 {q2},四分之三低于 {q3},"
        "最高的十分之一高于 {q9};平均约 {alive} 仍活跃。",
        "churn_count": "截至 {as_of} 有 {n} 位活跃售后客户;预计未来12个月流失 {expected} 位。",
        "top_customers": "风险最高的25位客户及主要原因",
        "churn_check": "风险排序是否可靠?",
        "churn_check_note": "各方法按客户在 {cutoff} 的状态排序;下表显示该排序对之后12个月内流失客户的识别效果。"
        "排序准确率为流失客户排在未流失客户之前的概率(50%相当于随机),括号内为其95%区间:区间相互重叠的方法之间的差别"
        "在偶然波动范围之内;提升倍数为风险最高10%客户中流失者是平均水平的几倍。",
        "leads_section": "线索意向",
        "no_lead_model": "线索分级来自批量运行(crm-analytics report)的网络线索模型;本报告未附带该模型。",
        "personas_note": "{n} 位已知客户按用车场景、信息来源、爱好、行业、性别、年龄和车型用潜在类别模型分群"
        "(数据截至 {as_of})。单店画像仅供参考:看占比,不看细节。各回答列列出该画像的突出特征"
        "(在该画像中比在全体客户中更常见的回答)及其在该画像中的占比。",
        "persona_name": "画像 {i}",
        "leads_note": "截至 {as_of} 未结案线索的网络模型分级:H = 7天内可能成交,A = 15天内,"
        "B = 30天内,C = 更久。",
        "media": "渠道归因与媒体效率",
        "media_note": "{start} 至 {end} 新建的线索及其订单;同期媒体费用。",
        "consultants": "销售顾问",
        "lists": "行动清单(截至 {as_of})",
        "lists_rank_note": "每张清单按一次回访的预期毛利排序:此类回访的成功率 × 客户仍活跃的概率"
        "(来自流失与休眠模型,无模型时按距上次到店天数)× 涉及的价值(元);各清单的权重再决定"
        "跨清单的先后。",
        "owner_load_note": "截至 {as_of} 每位员工的回访数,以及相对同岗位均值的负荷(1.00× 为平均)。",
        "calendar_note": "自 {as_of} 起每周到期的回访数;已逾期的回访计入第一周。",
        "week_of": "{date} 当周",
        "top_calls_note": "截至 {as_of} 所有清单中优先级最高的前 {n} 个回访。",
        "departments": "部门效率",
        "gaps_note": "分析期 {start} 至 {end} 相对目标与同行中位数的差距,按 差距 × 基数 × 单位毛利 "
        "折算为金额;比率的差距以百分点计。",
        "media_period_note": "{start} 至 {end} 新建的线索、由其产生的订单和交车,以及同期媒体费用。",
        "attribution_title": "各归因模型下各渠道获得的订单",
        "attribution_note": "截至 {as_of} 全部数据中的客户旅程(线索首次成交或结案前 {days} 天内的"
        "所有接触);每列按各自的规则把同一批订单分配给各渠道。沙普利值按渠道对所在旅程成交率的影响分配,"
        "含该渠道的旅程成交率低于不含它的旅程时,该渠道得到负值。",
        "persona_channels_title": "按客户年龄段的渠道效果",
        "persona_channels_note": "接受过访谈的客户(交车访谈、战败回访或意向调查);提升倍数为含该渠道"
        "的成交率除以不含该渠道的成交率,在同一年龄段内比较。旅程少于 {n} 条的分组不列出。",
        "recall_title": "DMS记录的渠道与客户回忆是否一致?",
        "recall_note": "截至 {as_of} 调查中客户回答的获知渠道与DMS中线索渠道的对比,附95%区间。",
        "departments_note": "截至 {as_of} 的12个月:销售部(线索到交车)、售后部(进厂客户到回厂客户)、"
        "续保(到期保单到本店续保)、客户关系部与DCC(联系的客户到30天内到店)。",
        "satisfaction": "满意度与战败原因",
        "personas": "客户画像",
        "quality": "数据质量",
        "quality_cards": "数据质量:三个维度、最差规则、整改清单",
        "quality_note": "基于全部数据。维度得分(0-100)为其各条规则得分的平均,因此即使几乎所有记录都合格"
        "(见通过率),一条多数记录不合格的规则也会拉低得分;整改清单把每条不合格记录发给记录的负责人。",
        "recon": "客流登记与DMS核对({start} 至 {end})",
        "quality_ok": "导入时所有数据行均通过边界校验。",
        "quarantine": "导入时隔离的数据行",
        "masked": "本报告已对个人信息脱敏。",
        "font_fallback": "图表标签为英文:生成本报告的电脑未安装中文字体。",
        "base": "客户生命周期状态",
        "list_reason": "客户数",
        "not_available": "暂无:{why}",
        "insufficient": "本店数据量不足",
        "short_history": "数据覆盖的月份尚不足",
        "not_computable": "无法根据本店数据计算",
        "no_lead_grades": "本次运行没有线索分级:{why}",
        "incomplete": "* 按已成熟线索计算(见上)",
        "unit_pp": "个百分点",
        "network": "网络总览",
        "ranking": "全部经销商排名",
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
        "speed_section": "线索响应速度:集客线索的首次响应",
        "speed_note": "{start} 至 {end} 新建的集客线索(网络询价、电话询价、车展、异业合作、转介绍):"
        "从线索建立到经销商首次响应的分钟数。占比以该渠道全部线索为分母(含未响应线索)。{events}",
        "speed_events": "在本店活动中当面获取的 {n} 条线索无需等待响应,本表及以下均未计入。",
        "speed_bands_note": "{start} 至 {end} 新建的线索(已满 {days} 天,结果已知):"
        "按首次响应时间分组的线索成交率,含95%区间。",
        "speed_effect": "{minutes} 分钟内响应的集客线索,成交率是较晚响应线索的 {rr} 倍"
        "(95%区间 {lo} 至 {hi};按渠道分别比较;{start} 至 {end} 新建的快速响应线索 {fast} 条、"
        "较慢响应线索 {slow} 条)。{verdict}",
        "effect_clear": "响应越快成交越好,超出随机误差。",
        "effect_unclear": "差异在随机误差范围内。",
        "complaints_section": "投诉处理",
        "complaints_note": "{start} 至 {end} 受理的投诉,按投诉类别(行)和发生环节(列)统计。",
        "complaints_sla_note": "服务标准:{hours} 小时内首次响应,受理后 {days} 天内解决。"
        "统计 {start} 至 {end} 受理的投诉;标准时限届满(逾期响应或截至 {as_of} 仍未响应)的投诉才计入达标率。"
        "重开率以已解决投诉为分母(含95%区间)。",
        "sla_response_col": "{hours}小时内响应",
        "sla_resolution_col": "{days}天内解决",
        "complaint_retention_note": "{start} 至 {end} 受理的客户首次投诉:投诉后 {days} 天内再次进厂的客户占比,"
        "已解决与未解决对比(95%区间;差距以百分点计)。",
        "aftersales_section": "按车龄看售后:保有率与客户付费占比",
        "retention_age_note": "本店售出车辆按 {as_of} 的车龄分组:{start} 至 {as_of}(12个月)内有进厂记录的占比,"
        "含95%区间。不足1年的车辆不计入。",
        "pay_mix_note": "{start} 至 {end} 的维修工单,按进厂时车龄分组:客户付费与索赔、召回(厂家付费)对比;"
        "产值为工时费加配件费(元)。",
        "pacing": "本月进度:{month}",
        "pacing_note": "{month} 截至 {as_of}:营业日已过 {worked} 天,共 {days} 天({open},未扣除节假日)。"
        "月度目标按营业日折算进度;月底预计值按本月日均进度推算,含80%区间。",
        "pacing_alert": "预警:{measure} 已完成 {actual},截至 {as_of} 按进度应完成 {expected}(落后 {gap});"
        "按当前进度月底预计 {projected}(80%区间 {lo} 至 {hi}),目标 {target}。",
        "pacing_alert_final": "预警:{measure} 本月完成 {actual},目标 {target}(差 {gap})。",
        "pacing_ok": "所有有目标的指标均按进度完成。",
        "penetration_by_note": "{start} 至 {end} 交车,{group}:各增值项目占交车数的比例。"
        "组间差异超出随机误差的项目(卡方检验,5%):{lines}。",
        "pacing_none": "无月度目标:数据未覆盖去年同月或近三个月。",
        "leads_month": "各渠道月度线索",
        "from_run": "数据来自运行 {run}(与其报告一致)。",
        "on_the_spot": "此处根据数据仓库现场分析:{why}",
        "spot_kept": "(沿用 {at} 为该经销商上一个笔记本所做的分析,数据与设置相同。)",
        "data_date": "数据截至 {as_of}。",
        "no_run": "{runs} 中没有该经销商的运行(crm-analytics report 或 make report);线索评分需要运行。",
        "run_stale": "运行 {run} 之后数据仓库已更新;线索评分需要重新运行。",
        "run_other_settings": "运行 {run} 使用了其他设置(分析期、目标或参数);线索评分需要按当前设置运行。",
        "peers_from_store": "同行中位数由数据仓库中的 {n} 家经销商现场计算(无运行)。",
        # --- data-quality and funnel notebooks (secondary views) ---
        "dq_scores_note": "基于全部数据({start} 至 {end})。每条规则按不合格记录得分0-100"
        "(不合格达 {tolerance} 时为0);维度得分为其各条规则得分的平均:{green} 分及以上为绿,"
        "{amber} 分及以上为黄,以下为红。通过率按全部检查记录合计。",
        "dq_dimensions": "三个维度的得分",
        "dq_rule_score": "(得分 {score:.1f})",
        "dq_by_table": "各数据表在各维度的得分(– 表示该维度没有规则检查该表)。",
        "dq_rules": "有不合格记录的规则(得分从低到高)",
        "dq_rules_none": "所有规则均无不合格记录。",
        "dq_recon_note": "展厅客流登记与DMS到店记录逐条核对:未在DMS留档的散客,"
        "以及前台无来店登记的DMS到店记录(可能虚构)。统计范围为上述整个客流登记期;"
        "漏斗KPI中的散客留档率是同一口径在报告期内的统计。",
        "dq_recon_consultants": "按销售顾问",
        "dq_load": "导入时读取和拒收的数据行",
        "dq_load_note": "导入时拒收的数据行,按数据表和规则(该行违反的规则)统计。",
        "dq_fixes": "整改清单:退回负责人更正的记录",
        "dq_fixes_note": "截至 {as_of} 共有 {n} 条记录待更正,按负责人和问题统计。下面列出最近的 "
        "{shown} 条;完整清单见本次运行的整改清单(Excel):每位负责人一页,含客户姓名和电话"
        "(除非本次运行生成联系清单,否则已脱敏)。",
        "dq_fixes_none": "没有需要更正的记录。",
        "ev_churn_main": "{n_high} 位高风险客户中 {n} 位的主要原因是「{reason}」",
        "ev_churn_next": ";其次常见:「{reason}」({n} 位)",
        "ev_stage_unexplained": "{stage} {value} 未达标;CRM数据中没有得到支持的原因,需现场检查(见诊断)",
        "fn_channels": "各线索渠道的漏斗转化率",
        "fn_channels_note": "{start} 至 {end} 新建的线索,按线索来源渠道。",
        "fn_consultants_note": "{start} 至 {end} 新建的线索,按负责的销售顾问。",
        "fn_stages": "各环节对比目标与同行",
        "fn_stages_note": "KPI树各环节,判断方法与诊断相同:95%区间整体低于目标,或处于同行最低的四分之一,"
        "即列为需诊断环节;每年可增订单为达到目标时增加的订单数。",
        "fn_change": "全部指标与上一轮辅导对比",
        "fn_forecast": "下月订单与交车预测",
        "fn_forecast_note": "{month} 的预测,依据截至 {as_of} 的在途线索和订单以及预计新增线索"
        "(按阶段和时长的在途模型),含80%和95%区间。",
        "fn_backtest_note": "预测的历史表现:同一模型在 {first} 至 {last} 的 {n} 个月末分别预测下月,"
        "与实际对比。平均绝对误差(每月台数)与两种简单方法对比;以及实际落在区间内的比例。",
        # CRM desk and lost contacts (issue 17 items 4-5)
        "contact_section": "CRM部门呼叫工作与失联客户",
        "desk_work_note": "{start} 至 {end} CRM与DCC的拨打记录,按名单类型({lists})区分,"
        "依据DMS记录判断:带线索的电话为线索跟进,交车后不久的电话为交车回访,一年内来过店的车主为保养提醒,"
        "其余为休眠客户激活。转化:接通后 {days} 天内线索到店或客户回厂保养(交车回访不计转化)。",
        "desk_owners_note": "同上,按名单类型和拨打人,{start} 至 {end}。",
        "desk_coverage_note": "{start} 至 {end} 已过时限的交车:{callback} 天内拨打并接通回访"
        "({interview} 天内的交车访谈见下方问卷表)。培训材料要求每批交车都做,但未规定天数:"
        "此处为经销店的设定。",
        "desk_surveys_note": "{start} 至 {end} 的问卷回复:各问卷对应事件中已过时限者,在时限内完成该问卷的比例"
        "(DMS只保存已回答的问卷,因此以事件为基数)。一份问卷对应该客户或线索在其之前最近的一次事件。",
        "lost_contacts_note": "{as_of} 失联筛选:{n} 位客户无法联系(占客户 {share},占车主 {owner_share}):"
        "DMS号码无效,上次接通后出现空号或错号,或连续 {streak} 次无人接听且跨度至少 {days} 天。"
        "号码失效后尚未拨打过的客户在此看不到:实际比例更高。",
        "recontact_note": "重新联系名单(在下次到店时、通过原销售顾问或短信获取新号码):"
        "共 {n} 位,显示前 {shown} 位,原因最明确的在前。",
        "desk_staff_unknown": "未记录",
        # key accounts and events (issue 17)
        "ka_section": "大客户与市场活动",
        "ka_accounts": "大客户",
        "ka_note": "大客户为数据中({start} 至 {end})拥有至少 {vehicles} 台车或至少 {orders} "
        "张订单的客户;进厂次数统计截至 {end} 的近 {months} 个月,增值业务渗透率按该客户的订单计算,"
        "占比为占本店全部订单的比例。",
        "ka_none": "没有客户达到上述标准。",
        "ka_total": "{n} 家大客户共拥有 {vehicles} 台车,占本店订单的 {share}。",
        "ev_heading": "市场活动",
        "ev_note": "{start} 至 {end} 共 {n} 场店内及店外活动。活动线索为该活动产生的线索;"
        "到店和订单为这些线索在活动结束后 {days} 天内的到店和订单(统计至 {as_of};"
        "跟进期未满的活动数字仍可能增加)。",
        "ev_none": "数据中没有市场活动记录。",
        "ev_table_note": "最近 {n} 场活动。",
    },
}


def t(key: str, language: str = "en", **kw: object) -> str:
    """A fixed text of the report in ``language`` (English when missing), formatted with ``kw``."""
    text = TEXT.get(language, TEXT["en"]).get(key) or TEXT["en"][key]
    if not kw:
        return text
    text = text.format(**kw)
    return _SINGULAR.sub(r"\1 \2", text) if language != "zh" else text


#: "1 leads" -> "1 lead": a count of one before a plural noun of the English texts.
_SINGULAR = re.compile(
    r"(?<![\d.,])(1) (lead|customer|call|dealer|day|row|journey|answer|order|visit|month)s\b"
)


def why(note: str, language: str = "en") -> str:
    """Why a number is missing, in words for the report's reader (either language).

    ``note`` is the model's or section's own message, written for an analyst (counts,
    thresholds, how to pass a network model): it stays in the analysis and the model card.
    The reader gets the glossary's sentence for its kind: too few records, too short a
    history, or (anything else) not computable from this dealer's data.
    """
    text = (note or "").lower()
    if "months of" in text or "history" in text or "no training cutoff" in text:
        return t("short_history", language)
    if not text or "only" in text or "at least" in text or "too few" in text:
        return t("insufficient", language)
    return t("not_computable", language)


def network_column(column: str, language: str = "en") -> str:
    """A column of a network table (dealer id, name, city, a KPI) in ``language``."""
    keys = {"dealer_id": "idx_dealer", "name": "idx_name", "city": "city"}
    return t(keys[column], language) if column in keys else label(column, language)


def is_missing(v: Any) -> bool:
    """None, NaN, NA or NaT (a scalar)."""
    return v is None or (pd.api.types.is_scalar(v) and bool(pd.isna(v)))


def format_yuan(value: float, lang: str = "en") -> str:
    """Money for a slide: ``¥1.23M`` / ``¥45.6k`` in English, ``123.4万元`` in Chinese."""
    if is_missing(value):
        return "–"
    v = float(value)
    if lang == "zh":
        if abs(v) >= 1e8:
            return f"{v / 1e8:,.2f}亿元"
        if abs(v) >= 1e4:
            return f"{v / 1e4:,.1f}万元"
        return f"{v:,.0f}元"
    if abs(v) >= 1e6:
        return f"¥{v / 1e6:,.2f}M"
    if abs(v) >= 1e3:
        return f"¥{v / 1e3:,.1f}k"
    return f"¥{v:,.0f}"


def fmt_value(kpi: str, v: Any, lang: str = "en") -> str:
    """A KPI's value in its unit: a rate as ``23.5%``, yuan, days or minutes, a count."""
    if is_missing(v):
        return "–"
    unit = KPI_UNITS.get(kpi)
    v = float(v)
    if unit == "yuan":
        return format_yuan(v, lang)
    if unit in ("days", "minutes"):
        word = {"days": ("days", "天"), "minutes": ("min", "分钟")}[unit][1 if lang == "zh" else 0]
        return f"{v:,.1f} {word}" if lang == "en" else f"{v:,.1f}{word}"
    if kpi.endswith("_count") or kpi in ("open_leads", "auto_show_leads", "online_leads"):
        return f"{v:,.0f}"
    if kpi.endswith(("_rate", "_penetration", "_share", "_retention")) or abs(v) <= 1.0:
        return f"{v:.1%}"
    return f"{v:,.0f}"


def fmt_pp(kpi: str, v: Any, lang: str = "en") -> str:
    """A change of a KPI: rates in percentage points (``+2.8 pp`` / ``+2.8个百分点``), other
    KPIs in their unit with a sign."""
    if is_missing(v):
        return "–"
    v = float(v)
    if KPI_UNITS.get(kpi) or kpi.endswith("_count"):
        text = fmt_value(kpi, abs(v), lang)
        return ("+" if v >= 0 else "−") + text
    pts = 100 * v
    unit = t("unit_pp", lang)
    sep = "" if lang == "zh" else " "
    return f"{pts:+.1f}{sep}{unit}".replace("-", "−")


def fmt_date(value: Any) -> str:
    """A date as ``2026-06-30`` (never a timestamp with its time of day); missing -> ``–``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return str(value)
    return "–" if ts is pd.NaT else ts.date().isoformat()


def fmt_num(v: Any, f: str) -> str:
    """``v`` formatted with the format spec ``f``; ``–`` when missing or infinite."""
    return "–" if is_missing(v) or not math.isfinite(float(v)) else format(float(v), f)


def fmt_pct(v: Any, f: str = ".1%") -> str:
    """A share as a percentage (``0.2345`` -> ``23.5%``); ``–`` when missing."""
    return fmt_num(v, f)


def fmt_count(v: Any) -> str:
    """A count or an amount with thousands separators (``12345.0`` -> ``12,345``)."""
    return fmt_num(v, ",.0f")


def fmt_prob(v: Any) -> str:
    """A model's probability as a percentage; beyond 99.9% (or under 0.1%) it says so rather
    than ``100.0%`` (``0.0%``), a certainty no model has."""
    if is_missing(v) or not math.isfinite(float(v)):
        return "–"
    v = float(v)
    return "> 99.9%" if v > 0.999 else "< 0.1%" if v < 0.001 else f"{v:.1%}"


def fmt_window(start: Any, end: Any, lang: str) -> str:
    """A date window: ``2025-07-01 to 2026-06-30`` / ``2025-07-01 至 2026-06-30``."""
    sep = " 至 " if lang == "zh" else " to "
    return f"{fmt_date(start)}{sep}{fmt_date(end)}"


def date_span(times: Any, end: Any = None) -> tuple[Any, Any]:
    """First and last date of ``times`` (``end``: the last date instead); ``(None, end)``
    when there is none."""
    s = pd.to_datetime(pd.Series(times)).dropna()
    if s.empty:
        return None, end
    return s.min(), (s.max() if end is None else end)
