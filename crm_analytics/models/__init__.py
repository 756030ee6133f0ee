"""Estimators with the scikit-learn contract: BTYD models, features, churn and lead scoring,
personas, lifetime value."""
