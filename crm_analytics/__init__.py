"""Dealer CRM analytics."""
