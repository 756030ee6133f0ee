"""The notebook kit: open a dealer, headline KPIs, escaped display, zh/en text, plots.

Nothing is imported eagerly.
"""
