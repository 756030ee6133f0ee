"""Metrics that learn nothing: functions from tables to tables (quality, funnel, penetration,
lifecycle, RFM, forecast, the CRM department's reports, attribution)."""
