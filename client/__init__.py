"""tinymlp's Python client, on ``requests`` (no Flask, no numpy): ``Client`` and its errors.

    from client import Client
    with Client("http://localhost:8000", token="...") as tinymlp:
        tinymlp.predict("red", [[255, 0, 0], [12, 200, 40]]).labels     # ['red', 'not_red']
        job = tinymlp.train("red", epochs=5).wait(progress=True, served=True)

The command line is ``tinymlp`` (``python -m client``).
"""

from __future__ import annotations

__version__ = "0.1.0"

from client.api import Client
from client.errors import (
    ClientError,
    Conflict,
    InvalidInput,
    NotFound,
    RateLimited,
    TooLarge,
    TooLargeAnswer,
    Unauthorized,
    Unavailable,
    UnexpectedAnswer,
)
from client.feedback import Drift, FeedbackResult, Live, Retraining
from client.jobs import Job
from client.rollouts import Rollout
from client.types import ModelInfo, Prediction, Predictions, PredictResult, Readiness

__all__ = ["Client", "ClientError", "Conflict", "Drift", "FeedbackResult", "InvalidInput", "Job", "Live", "ModelInfo",
           "NotFound", "PredictResult", "Prediction", "Predictions", "RateLimited", "Readiness", "Retraining",
           "Rollout", "TooLarge", "TooLargeAnswer", "Unauthorized", "Unavailable", "UnexpectedAnswer", "__version__"]
