"""What the service answers, as typed records: predictions, models, readiness. Each is read
from JSON through ``client.answers``, so an answer of the wrong shape is one clear error."""

from __future__ import annotations

from dataclasses import dataclass, field

from client.answers import (
    Malformed,
    dict_of,
    integer,
    list_of,
    nullable,
    number,
    obj,
    text,
)
from client.answers import field as get


def _value(value, where: str) -> float | list[float]:
    return list_of(number)(value, where) if isinstance(value, list) else number(value, where)


@dataclass(frozen=True)
class Prediction:
    """One row's answer: ``label`` and ``probabilities`` (a classifier), or ``value`` (a
    regressor: a number, or a list of them); ``version`` is the model version that answered;
    ``request_id`` and ``row`` name it for feedback (``Client.feedback``)."""

    version: int
    label: str | None = None
    probabilities: dict[str, float] | None = None
    value: float | list[float] | None = None
    request_id: str | None = None  # the request that answered it (None: a service that does not say)
    row: int | None = None  # its row in that request

    @classmethod
    def from_json(cls, data, version: int, where: str = "prediction", request_id: str | None = None,
                  row: int | None = None) -> Prediction:
        data = obj(data, where)
        if "label" in data:
            return cls(version, get(data, "label", text, where), get(data, "probabilities", dict_of(number), where),
                       request_id=request_id, row=row)
        if "value" in data:
            return cls(version, value=get(data, "value", _value, where), request_id=request_id, row=row)
        raise Malformed(f"{where} has neither a 'label' nor a 'value'")


def predictions_answer(body, rows: int) -> tuple[int, list[Prediction]]:
    """The version and one prediction per row sent, from a predict answer."""
    body = obj(body, "the answer")
    version = get(body, "version", integer, "the answer")
    request_id = get(body, "id", nullable(text), "the answer", default=None)
    given = get(body, "predictions", list_of(lambda p, where: p), "the answer")
    if len(given) != rows:
        raise Malformed(f"the answer holds {len(given)} prediction{'s' * (len(given) != 1)} for {rows} "
                        f"row{'s' * (rows != 1)} sent")
    return version, [Prediction.from_json(p, version, f"predictions[{i}]", request_id, i)
                     for i, p in enumerate(given)]


@dataclass(frozen=True)
class Predictions:
    """The answers to every row sent, in order (however many requests that took)."""

    model: str
    predictions: list[Prediction]
    answers: list[dict] = field(default_factory=list, repr=False)  # the service's answers as they came

    @property
    def versions(self) -> set[int]:
        return {p.version for p in self.predictions}

    @property
    def version(self) -> int | None:
        """The version that answered, or None if several did (a new one was served mid-way)."""
        return next(iter(self.versions)) if len(self.versions) == 1 else None

    def __len__(self) -> int:
        return len(self.predictions)

    def __iter__(self):
        return iter(self.predictions)

    def __getitem__(self, i):
        return self.predictions[i]

    @property
    def labels(self) -> list[str | None]:
        return [p.label for p in self.predictions]

    @property
    def request_ids(self) -> list[str]:
        """The id of every request the rows took, in order: what feedback names them by."""
        return list(dict.fromkeys(p.request_id for p in self.predictions if p.request_id is not None))

    @property
    def request_id(self) -> str | None:
        """The request id the service answered under (the X-Request-ID header, ``id`` in the
        body), to send feedback with; None if the rows took several requests (``request_ids``)
        or the service named none."""
        ids = self.request_ids
        return ids[0] if len(ids) == 1 and all(p.request_id is not None for p in self.predictions) else None


PredictResult = Predictions  # the predict answer's other name


@dataclass(frozen=True)
class ModelInfo:
    name: str
    served_version: int | None
    versions: list[int]
    labels: dict[str, int]
    task: str | None = None
    features: list[str] = field(default_factory=list)
    kind: str | None = None  # "classifier" or "regressor"
    classes: list[str] | None = None
    failures: dict[str, str] = field(default_factory=dict)
    label_error: str | None = None
    unservable: str | None = None

    @property
    def newest(self) -> int | None:
        return max(self.versions, default=None)

    @classmethod
    def from_json(cls, d, where: str = "the answer") -> ModelInfo:
        d = obj(d, where)
        spec = get(d, "input", nullable(obj), where, default=None) or {}
        output = get(d, "output", nullable(obj), where, default=None) or {}
        return cls(get(d, "name", text, where), get(d, "served_version", nullable(integer), where, default=None),
                   get(d, "versions", list_of(integer), where, default=[]),
                   get(d, "labels", dict_of(integer), where, default={}),
                   get(d, "task", nullable(text), where, default=None),
                   get(spec, "features", list_of(text), f"{where}.input", default=[]),
                   get(output, "kind", nullable(text), f"{where}.output", default=None),
                   get(output, "labels", nullable(list_of(text)), f"{where}.output", default=None),
                   get(d, "failures", dict_of(text), where, default={}),
                   get(d, "label_error", nullable(text), where, default=None),
                   get(d, "unservable", nullable(text), where, default=None))


def models_answer(body) -> list[ModelInfo]:
    models = get(obj(body, "the answer"), "models", list_of(lambda m, where: m), "the answer")
    return [ModelInfo.from_json(m, f"models[{i}]") for i, m in enumerate(models)]


@dataclass(frozen=True)
class Readiness:
    """Whether the service can serve (truthy), what each model serves, which cannot be served
    and why; ``reload_interval``: seconds between its store scans, if it says."""

    ready: bool
    models: dict[str, int | None]
    failures: dict[str, str]
    message: str | None = None
    reload_interval: float | None = None

    def __bool__(self) -> bool:
        return self.ready

    @classmethod
    def from_json(cls, body) -> Readiness:
        body = obj(body, "the answer")
        interval = get(body, "reload_interval", nullable(number), "the answer", default=None)
        if interval is not None and not interval >= 0:
            raise Malformed(f"the answer's reload_interval is {interval}, expected seconds (0 or more)")
        return cls(True, get(body, "models", dict_of(nullable(integer)), "the answer", default={}),
                   get(body, "failures", dict_of(text), "the answer", default={}), None, interval)

