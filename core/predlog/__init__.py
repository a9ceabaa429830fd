"""The prediction log: every logged prediction (its request id, model, version, checked rows
and outputs), the feedback users send on them, live quality per version, the window drift
is measured over, and the per-model retraining policies. It lives in the database every
process shares (``core.db``); its SQL is ``core/predlog/sql/<backend>/``.

The service's per-worker background writer (``service.predlog``) fills it; the feedback and
drift endpoints and the job worker (``trainer.retraining``) read it.
"""

from __future__ import annotations

from core.predlog.log import Entry, PredictionLog, Unavailable, input_dtype
from core.predlog.records import (
    FeedbackRow,
    Judged,
    Live,
    Logged,
    PolicyError,
    PolicyState,
    Quality,
    Recorded,
    RetrainingPolicy,
    truth_text,
)

__all__ = ["Entry", "FeedbackRow", "Judged", "Live", "Logged", "PolicyError", "PolicyState", "PredictionLog",
           "Quality", "Recorded", "RetrainingPolicy", "Unavailable", "input_dtype", "truth_text"]
