"""The error raised for inputs the evaluation cannot work with."""

from __future__ import annotations

from ..errors import ReidError


class EvaluationError(ReidError, ValueError):
    """Bad evaluation input (empty gallery, NaN features, mismatched lengths, no valid query).

    It is a :class:`ValueError` too, so callers that only know the standard exceptions catch it.
    """
