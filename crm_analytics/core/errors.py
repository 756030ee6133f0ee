"""The package's one exception hierarchy.

Every message names what failed (file, table, column, rows) and what to do about it.
"""

from __future__ import annotations

from typing import Any

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError


class CRMAnalyticsError(Exception):
    """Base class of every error raised by :mod:`crm_analytics`."""


class InputError(CRMAnalyticsError, ValueError):
    """An input file, folder, table or argument cannot be used as given."""


class UnknownDealerError(InputError, KeyError):
    """A dealer id that the data source does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataValidationError(CRMAnalyticsError, ValueError):
    """Raised by strict validation; carries the full lazy validation report.

    Parameters
    ----------
    message
        Human-readable summary naming the tables, columns and rules that failed.
    report
        One row per (table, column, rule) with ``count`` and ``examples`` of offending row ids.
    """

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class ParameterError(InputError):
    """Report parameters (YAML) that are unknown, mistyped or point to missing files."""


class NotFittedError(CRMAnalyticsError, _SklearnNotFittedError):
    """A model was used before ``fit``.

    Also a :class:`sklearn.exceptions.NotFittedError` (hence ``ValueError`` and
    ``AttributeError``), so scikit-learn's tools and ``except`` clauses recognise it.
    """


class ConvergenceError(CRMAnalyticsError, RuntimeError):
    """An optimiser did not converge; ``result`` carries the optimiser's own result object."""

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


class InsufficientDataError(CRMAnalyticsError, ValueError):
    """Too little data to fit or compute something; the message says how much is needed."""


class SmallDealerWarning(UserWarning):
    """A dealer had too little data for its own model; a fallback (the pooled network model,
    or a lightly penalised fit) is used and named in the message."""


class StoreDamageError(InputError):
    """A network store's file is missing, truncated, corrupt or differs from the store's
    manifest; the message names the dealer, table and file, and says to regenerate or
    re-import that dealer."""


class RunLockedError(CRMAnalyticsError, RuntimeError):
    """Another run holds the run folder's lock; the message names its pid, host and start
    time, and when it is safe to remove the lock file."""
