"""Data in: the Parquet network store, DMS exports, boundary validation, record linkage, masking.

The entry points an analyst needs are importable from here::

    from crm_analytics.data import list_dealers, load_dealer, read_dms_export
"""

from crm_analytics.data.dms import read_dms_export
from crm_analytics.data.store import list_dealers, load_dealer

__all__ = ["list_dealers", "load_dealer", "read_dms_export"]
