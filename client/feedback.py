"""Feedback, live quality, drift and retraining as the client sees them: the bodies it sends
and the answers, read through ``client.answers`` so an answer of the wrong shape is one
clear error.

    answer = client.predict("red", [[250, 10, 10], [10, 200, 40]])
    client.feedback("red", answer, ["red", "not_red"])        # every row's truth, by its request id
    client.feedback("red", answer.request_id, row=1, label="red")   # a different truth replaces it
    client.drift("red").features["r"].psi
"""

from __future__ import annotations

from dataclasses import dataclass, field

from client.answers import Malformed, boolean, dict_of, integer, list_of, nullable, number, obj, text
from client.answers import field as get
from client.types import Predictions


def feedback_body(request, labels=None, values=None, row=None, label=None, value=None) -> list[dict]:
    """The feedback items for ``request``: a request id, or a predict answer (``Predictions``,
    whose rows may have taken several requests: one item per request)."""
    one_row = label is not None or value is not None
    every_row = labels is not None or values is not None
    if one_row == every_row or (label is not None and value is not None) or (labels is not None
                                                                             and values is not None):
        raise ValueError("give labels (or values), one per row, or row with label (or value)")
    if one_row and (row is None or isinstance(row, bool) or not isinstance(row, int) or row < 0):
        raise ValueError(f"a single truth needs its row, a whole number from 0, got {row!r}")
    if every_row and row is not None:
        raise ValueError("labels and values cover every row: leave out row")
    truths = labels if labels is not None else values
    key = "labels" if labels is not None else "values"
    if isinstance(request, Predictions):
        rows = request.predictions
        if any(p.request_id is None for p in rows):
            raise ValueError("that answer names no request id (a service older than feedback); give the id")
        if one_row:
            if row >= len(rows):
                raise ValueError(f"row {row} is not one of the answer's {len(rows)} rows")
            p = rows[row]
            return [{"request_id": p.request_id, "row": p.row,
                     **({"label": label} if label is not None else {"value": value})}]
        truths = list(truths)
        if len(truths) != len(rows):
            raise ValueError(f"{len(truths)} {key} for the answer's {len(rows)} rows: give one per row")
        items: dict[str, list] = {}
        for p, t in zip(rows, truths):
            items.setdefault(p.request_id, []).append(t)
        return [{"request_id": rid, key: ts} for rid, ts in items.items()]
    if not isinstance(request, str) or not request:
        raise ValueError(f"request must be a request id or a predict answer, got {type(request).__name__}")
    if one_row:
        return [{"request_id": request, "row": row, **({"label": label} if label is not None else {"value": value})}]
    return [{"request_id": request, key: list(truths)}]


@dataclass(frozen=True)
class Replacement:
    request_id: str
    row: int
    version: int
    previous: object
    now: object


@dataclass(frozen=True)
class FeedbackResult:
    """What the service made of a feedback body: rows ``new``, ``unchanged`` (the same truth
    again, counted once) and ``replaced`` (listed in ``replacements``)."""

    model: str
    rows: int
    new: int
    unchanged: int
    replaced: int
    replacements: list[Replacement] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)  # request id -> the version that answered it

    @classmethod
    def from_json(cls, body) -> FeedbackResult:
        b = obj(body, "the answer")
        w = "the answer"
        counts = [get(b, k, integer, w) for k in ("rows", "new", "unchanged", "replaced")]
        if counts[0] != sum(counts[1:]):
            raise Malformed(f"the answer's rows ({counts[0]}) are not new + unchanged + replaced ({sum(counts[1:])})")
        replacements = [Replacement(get(r, "request_id", text, f"{w}.replacements[{i}]"),
                                    get(r, "row", integer, f"{w}.replacements[{i}]"),
                                    get(r, "version", integer, f"{w}.replacements[{i}]"), r.get("previous"),
                                    r.get("now"))
                        for i, r in enumerate(get(b, "replacements", list_of(obj), w, default=[]))]
        return cls(get(b, "model", text, w), *counts, replacements, get(b, "versions", dict_of(integer), w, default={}))


@dataclass(frozen=True)
class Quality:
    feedback_rows: int
    accuracy: float | None = None
    recall: dict[str, float] = field(default_factory=dict)
    mae: float | None = None
    rmse: float | None = None

    @classmethod
    def from_json(cls, data, where: str) -> Quality:
        d = obj(data, where)
        return cls(get(d, "feedback_rows", integer, where), get(d, "accuracy", nullable(number), where, default=None),
                   get(d, "recall", dict_of(number), where, default={}),
                   get(d, "mae", nullable(number), where, default=None),
                   get(d, "rmse", nullable(number), where, default=None))


@dataclass(frozen=True)
class Live:
    """A version's live quality from feedback: over its latest ``window`` feedback rows (the
    figures themselves), and ``since_serving``; ``error`` if the service could not read it."""

    recent: Quality | None
    since_serving: Quality | None
    window: int | None = None
    error: str | None = None

    @classmethod
    def from_json(cls, data, where: str = "the answer.live") -> Live:
        d = obj(data, where)
        if "error" in d:
            return cls(None, None, error=get(d, "error", text, where))
        return cls(Quality.from_json(d, where), Quality.from_json(get(d, "since_serving", obj, where),
                                                                  f"{where}.since_serving"),
                   get(d, "window", integer, where))


@dataclass(frozen=True)
class FeatureDrift:
    psi: float | None
    ks: float | None


@dataclass(frozen=True)
class Drift:
    """The served version's latest ``window_rows`` rows against its training data: per feature
    PSI and KS, and the predictions' PSI. ``available`` False: the version records no
    reference (``reason`` says why)."""

    model: str
    version: int
    available: bool
    window_rows: int
    features: dict[str, FeatureDrift]
    prediction_psi: float | None
    window: int | None = None
    reason: str | None = None

    @classmethod
    def from_json(cls, body) -> Drift:
        b, w = obj(body, "the answer"), "the answer"
        features = {k: FeatureDrift(get(obj(v, f"{w}.features.{k}"), "psi", nullable(number), f"{w}.features.{k}"),
                                    get(v, "ks", nullable(number), f"{w}.features.{k}"))
                    for k, v in get(b, "features", obj, w).items()}
        prediction = get(b, "prediction", nullable(obj), w)
        return cls(get(b, "model", text, w), get(b, "version", integer, w), get(b, "available", boolean, w),
                   get(b, "window_rows", integer, w), features,
                   None if prediction is None else get(prediction, "psi", nullable(number), f"{w}.prediction"),
                   get(b, "window", nullable(integer), w, default=None), get(b, "reason", nullable(text), w,
                                                                              default=None))


@dataclass(frozen=True)
class Retraining:
    """A model's retraining policy (``enabled`` False: none) and where it stands."""

    model: str
    enabled: bool
    policy: dict | None = None
    new_feedback: int | None = None
    last_job: str | None = None
    last_reason: str | None = None

    @classmethod
    def from_json(cls, body) -> Retraining:
        b, w = obj(body, "the answer"), "the answer"
        return cls(get(b, "model", text, w), get(b, "enabled", boolean, w), get(b, "policy", nullable(obj), w),
                   get(b, "new_feedback", nullable(integer), w, default=None),
                   get(b, "last_job", nullable(text), w, default=None),
                   get(b, "last_reason", nullable(text), w, default=None))
