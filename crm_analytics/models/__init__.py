"""Estimators with the scikit-learn contract: BTYD models, features, churn and lead scoring
(one base class, :mod:`crm_analytics.models.scoring`), personas, lifetime value."""
