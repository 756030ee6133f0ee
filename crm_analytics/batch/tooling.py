"""The notebook tooling (nbformat, jupytext, papermill, nbconvert) imported without a grammar
it never uses.

nbformat validates notebooks with ``jsonschema``; ``jsonschema`` imports ``rfc3987_syntax``
when it is installed (jupyterlab's ``jupyter-events`` brings it), and that package compiles
an Earley grammar for IRIs when it is imported: about 3 CPU seconds, more than the rest of
the notebook tooling together, paid by every process that renders a notebook. Nothing a run
does checks the ``iri`` format (nbformat validates without format checkers), so
:func:`load_tooling` imports ``jsonschema`` with ``rfc3987_syntax`` hidden: ``jsonschema``
then leaves out its two IRI format checkers, as it does wherever that package is not
installed. Call it before importing any of the tooling.
"""

from __future__ import annotations

import sys

__all__ = ["load_tooling"]

_HIDDEN = "rfc3987_syntax"


def load_tooling() -> None:
    """Import ``jsonschema`` (once per process) without ``rfc3987_syntax``; see the module notes.

    Nothing changes when ``jsonschema`` or ``rfc3987_syntax`` is already imported, and
    ``rfc3987_syntax`` stays importable afterwards by whoever needs it.
    """
    if "jsonschema" in sys.modules or _HIDDEN in sys.modules:
        return
    sys.modules[_HIDDEN] = None  # type: ignore[assignment]  # its import now raises ImportError
    try:
        import jsonschema  # noqa: F401  # imported here, under the hiding, on purpose
    finally:
        if sys.modules.get(_HIDDEN, "") is None:
            del sys.modules[_HIDDEN]
