"""Evaluation: OGB accuracy, the seeded OGB protocol, the results JSON.

Figures live in :mod:`graphlearn.evaluation.plots` (imported on demand, it
pulls in matplotlib).
"""

from .metrics import accuracy
from .protocol import ProtocolResult, run_protocol, summarize
from .results import ResultsValidationError, format_table, make_results, to_markdown, validate_results

__all__ = [
    "accuracy",
    "run_protocol",
    "ProtocolResult",
    "summarize",
    "make_results",
    "format_table",
    "to_markdown",
    "validate_results",
    "ResultsValidationError",
]
