"""The prediction log as one gunicorn worker sees it: a background writer fed by the data
plane's observers, and the log opened for the feedback, drift and live-quality views.

Every predict request that is sampled (``TINYMLP_PREDICTION_LOG_RATE``; at 0 nothing is
queued at all: the observer is never registered) is handed over after its answer has gone,
as the ``Served`` the data plane made: a deque append, about a microsecond, on the request's
thread (which also wakes the writer when the queue was empty). One thread per worker writes
what has piled up in one transaction (``core.predlog``), converting the arrays to bytes
there, off the request's path: at once when the queue was idle (a request's feedback can
follow it within milliseconds), and otherwise at most once per ``BATCH_INTERVAL``, so a busy
worker writes few, large batches: a batch's fixed cost, and the writer's turns at the GIL
that the request's thread pays for, are most of what logging costs (a one-row request's
share of the writer's CPU went from about 60 to about 20 microseconds between batches 0.01 s
and 0.1 s apart). A feedback post that cannot find its request yet hurries its own worker's
writer (``hurry``). Nothing here can fail or slow an answer:

- more than ``MAX_PENDING_BYTES`` of arrays waiting (the database is slower than the traffic,
  or away): the request is not logged, its rows counted in
  ``tinymlp_prediction_log_dropped_rows_total{reason="queue_full"}``;
- a batch the database refuses (down, locked, full) is dropped, counted under
  ``reason="database"``, and the writer waits before trying again (0.5 s doubling to 10 s);
- the log's database is opened by the writer thread, never by a request.

A worker that exits (gunicorn's ``worker_exit`` closes the app) writes what it still holds,
for up to ``CLOSE_GRACE`` seconds. The writer also sweeps the log every ``SWEEP_EVERY``
seconds: requests past ``TINYMLP_PREDICTION_LOG_DAYS`` or the row cap
``TINYMLP_PREDICTION_LOG_MAX_ROWS``, feedback past the days.

``python -m benchmarks.feedback`` measures what logging costs a predict request.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections import deque

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

from core import drift as driftlib
from core.predlog import Entry, PredictionLog, input_dtype
from core.predlog import Unavailable as LogUnavailable
from service.errors import Unavailable

log = logging.getLogger("tinymlp.predlog")

BATCH_INTERVAL = 0.1  # seconds from one batch's start to the next's, at least (unless hurried)
IDLE_CHECK = 1.0  # seconds an idle writer waits before it looks whether a sweep is due
MAX_PENDING_BYTES = 64 * 2**20  # of arrays waiting to be written (per worker) before requests go unlogged
MAX_BATCH_ENTRIES, MAX_BATCH_ROWS = 2000, 200_000  # one transaction's worth
CLOSE_GRACE = 3.0  # seconds a closing worker spends writing what it holds
SWEEP_EVERY = 60.0
SWEEP_BATCH, SWEEP_BATCHES = 2000, 20
BACKOFF_FIRST, BACKOFF_CAP = 0.5, 10.0

WRITTEN = Counter("tinymlp_prediction_log_rows_total", "Predicted rows written to the prediction log")
DROPPED = Counter("tinymlp_prediction_log_dropped_rows_total", "Predicted rows not logged: the writer's queue "
                  "was full, or the database refused their batch", ["reason"])
REPEATED = Counter("tinymlp_prediction_log_repeated_ids_total", "Predict requests not logged because their "
                   "request id was already logged for that model (the first prediction keeps the id)")
FEEDBACK = Counter("tinymlp_feedback_rows_received_total", "Feedback rows received, by what became of them "
                   "(new, unchanged: the same truth again, replaced: a different truth)", ["model", "outcome"])


class PredictionLogs:
    """The app's prediction log and this worker's writer (see the module's docstring)."""

    def __init__(self, config):
        self.config = config
        self.rate = config.prediction_log_rate
        self._log: PredictionLog | None = None
        self._open_lock = threading.Lock()
        self._pending: deque = deque()
        # Rows and bytes handed over (by the request thread) and taken (by the writer): each
        # counter has one writer, so their difference is the backlog without a lock on the
        # request's path.
        self._given = self._given_bytes = 0
        self._taken = self._taken_bytes = 0
        self._done = 0  # rows written or dropped by the writer (for ``flush``)
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by a request finding the writer idle
        self._hurry = threading.Event()  # set by feedback looking for a request, and by close
        self._idle = False  # the writer waits for requests (not between two batches)
        self._failing_since: float | None = None
        self.max_pending_bytes = MAX_PENDING_BYTES

    # -- the log, opened once -------------------------------------------------------------

    def log(self) -> PredictionLog:
        """The log (Unavailable, 503, saying why, if its database cannot be used)."""
        if self._log is not None:
            return self._log
        unusable = self.config.unusable.get("TINYMLP_DATABASE_URL")
        if unusable:
            raise Unavailable(f"The prediction log cannot be used: {unusable}.")
        with self._open_lock:
            if self._log is None:
                try:
                    self._log = PredictionLog.open(self.config.state_dir, self.config.database_url)
                except LogUnavailable as e:
                    raise Unavailable(f"The prediction log cannot be used: {e}.") from None
        return self._log

    # -- the observer: on the request's thread ------------------------------------------

    def observe(self, served) -> None:
        """Queue what a predict request served (``dataplane.Served``), if sampled and if there is room."""
        if self.rate < 1.0 and random.random() >= self.rate:
            return
        n, size = len(served.X), _nbytes(served)
        if self._given_bytes - self._taken_bytes + size > self.max_pending_bytes:
            DROPPED.labels("queue_full").inc(n)
            return
        self._given += n
        self._given_bytes += size
        self._pending.append(served)
        if self._idle:  # after the append: a writer about to wait sees the request, or is woken
            self._wake.set()
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
                self._thread.start()

    # -- the writer thread --------------------------------------------------------------

    def _run(self) -> None:
        next_sweep = time.monotonic() + random.uniform(1.0, 10.0)  # workers do not sweep in step
        delay, last, behind = 0.0, 0.0, False
        while True:
            if time.monotonic() >= next_sweep:
                self._sweep()
                next_sweep = time.monotonic() + SWEEP_EVERY
            self._idle = True  # before looking: a request appended after the look wakes it
            if not self._pending:
                if self._stop.is_set():
                    return
                self._wake.wait(IDLE_CHECK)
                self._wake.clear()
                self._idle = False
                continue
            self._idle = False
            if self._stop.is_set() and time.monotonic() > self._deadline:
                self._drop_all()
                return
            gap = last + BATCH_INTERVAL - time.monotonic()
            if gap > 0 and not behind and not self._stop.is_set():
                self._hurry.wait(gap)  # let a busy worker's requests gather into one batch
                self._hurry.clear()
            last = time.monotonic()
            batch = self._take()
            behind = bool(self._pending)  # a full batch left some: the next one goes at once
            written = self._write(batch)
            self._done += sum(len(s.X) for s in batch)
            if not written:
                delay = min(BACKOFF_CAP, max(BACKOFF_FIRST, delay * 2))
                if not self._stop.is_set():
                    self._stop.wait(delay)
            else:
                delay = 0.0

    def _take(self) -> list:
        batch, rows, size = [], 0, 0
        while self._pending and len(batch) < MAX_BATCH_ENTRIES and rows < MAX_BATCH_ROWS:
            served = self._pending.popleft()
            batch.append(served)
            rows += len(served.X)
            size += _nbytes(served)
        self._taken += rows
        self._taken_bytes += size
        return batch

    def _write(self, batch: list) -> bool:
        rows = sum(len(s.X) for s in batch)
        try:
            entries = [Entry.of(s.model.name, s.model.version, s.request_id, s.X,
                                s.prediction.outputs,
                                _dtype_of(s.model.spec))
                       for s in batch]
            written = self.log().write(entries)
        except Exception as e:  # down, locked, full, misconfigured: never the requests' problem
            DROPPED.labels("database").inc(rows)
            now = time.monotonic()
            if self._failing_since is None or now - self._failing_since > 60:
                log.warning("prediction log: %d rows not logged: %s", rows, getattr(e, "message", None) or e)
                self._failing_since = now
            return False
        if self._failing_since is not None:
            log.info("prediction log: writing again")
            self._failing_since = None
        WRITTEN.inc(rows)
        if written < len(entries):
            REPEATED.inc(len(entries) - written)
        return True

    def _drop_all(self) -> None:
        rows = size = 0
        while self._pending:
            served = self._pending.popleft()
            rows += len(served.X)
            size += _nbytes(served)
        self._taken += rows
        self._taken_bytes += size
        self._done += rows
        if rows:
            DROPPED.labels("database").inc(rows)
            log.warning("prediction log: %d rows not logged before the worker exited", rows)

    def _sweep(self) -> None:
        try:
            target = self.log()
            for _ in range(SWEEP_BATCHES):
                if target.sweep(self.config.prediction_log_days * 86_400, self.config.prediction_log_max_rows,
                                batch=SWEEP_BATCH) == 0 or self._stop.is_set():
                    break
        except Exception as e:
            log.warning("prediction log: sweeping old rows failed (%s); trying again later",
                        getattr(e, "message", None) or e)

    def hurry(self) -> None:
        """Write what is waiting now, without waiting for the batch interval (feedback is
        looking for a request that may be here)."""
        if self._pending:
            self._hurry.set()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything handed over so far is written (or dropped); for tests and the
        benchmarks."""
        given, deadline = self._given, time.monotonic() + timeout
        while self._done < given and time.monotonic() < deadline:
            time.sleep(0.005)
        return self._done >= given

    def close(self) -> None:
        """Write what is left (for up to CLOSE_GRACE seconds), stop the writer, close the log."""
        self._deadline = time.monotonic() + CLOSE_GRACE
        self._stop.set()
        self._wake.set()
        self._hurry.set()
        thread = self._thread
        if thread is not None:
            thread.join(CLOSE_GRACE + 5)
        if self._log is not None:
            self._log.close()
            self._log = None

    _deadline = float("inf")


def _nbytes(served) -> int:
    """What a queued request holds in arrays."""
    p = served.prediction
    return served.X.nbytes + p.outputs.nbytes


# ``core.predlog.input_dtype`` of a loaded model's spec, worked out once per spec (a frozen,
# hashable InputSpec)
_dtype_of = functools.lru_cache(maxsize=256)(input_dtype)


# -- what the views and /metrics read ----------------------------------------------------


def live(logs: PredictionLogs, model, window: int) -> dict:
    """``"live"`` of a version's answer: quality over its latest ``window`` feedback rows and
    since it started serving; or why it cannot be read."""
    try:
        figures = logs.log().live(model.name, model.version, model.info.output.is_classifier, window)
    except (Unavailable, LogUnavailable) as e:
        return {"error": getattr(e, "message", None) or str(e)}
    return figures.to_dict(model.info.output.is_classifier)


def drift(logs: PredictionLogs, model, window: int) -> dict:
    """The drift answer of a served version (GET /models/<name>/drift): per-feature PSI and KS
    of its latest ``window`` logged rows against its training data, and the predictions' PSI.
    Unavailable (503) if the log cannot be read."""
    info = model.info
    base = {"model": model.name, "version": model.version, "window": window}
    ref = info.training.reference if info.training is not None else None
    if ref is None:
        return {**base, "available": False, "window_rows": 0, "features": {}, "prediction": None,
                "reason": f"{model.name} version {model.version} records no reference quantiles of its training "
                          "data (it was imported, or trained before they were recorded); a version trained "
                          "further here records them"}
    misfit = ref.misfit(info.input.features, info.output.labels if info.output.is_classifier else None,
                        info.output.n_outputs)
    if misfit:
        return {**base, "available": False, "window_rows": 0, "features": {}, "prediction": None,
                "reason": f"the reference quantiles in {model.name} version {model.version}'s file do not fit the "
                          f"model ({misfit}); a version trained further here records them anew"}
    try:
        recent = logs.log().recent(model.name, model.version, window)
    except LogUnavailable as e:
        raise Unavailable(f"The prediction log cannot be read: {e}.") from None
    if recent is None:
        return {**base, "available": True, "window_rows": 0, "reference_rows": ref.rows,
                "features": {f: {"psi": None, "ks": None} for f in ref.features}, "prediction": {"psi": None},
                "reason": "no predictions of this version are logged yet"}
    X, outputs = recent
    found = driftlib.compare(ref, X, label_index=outputs.argmax(axis=1) if info.output.is_classifier else None,
                             values=None if info.output.is_classifier else outputs, labels=info.output.labels)
    return {**base, "available": True, "window_rows": found.rows, "reference_rows": ref.rows,
            "features": {f: {"psi": p, "ks": k} for f, (p, k) in found.features.items()},
            "prediction": {"psi": found.prediction_psi}}


class QualityCollector:
    """At each scrape, from the log (so every worker and replica reports the same): each
    served version's live quality and drift, and whether the log answers."""

    def __init__(self, logs: PredictionLogs, registry, config):
        self.logs, self.registry, self.config = logs, registry, config

    def collect(self):
        up = GaugeMetricFamily("tinymlp_prediction_log_up", "1 while the prediction log answers")
        rows = GaugeMetricFamily("tinymlp_feedback_rows", "Feedback rows of the served version: in its latest "
                                 "TINYMLP_FEEDBACK_WINDOW, and since it started serving", labels=["model", "window"])
        accuracy = GaugeMetricFamily("tinymlp_feedback_accuracy", "Live accuracy of the served version",
                                     labels=["model", "window"])
        recall = GaugeMetricFamily("tinymlp_feedback_recall", "Live recall of the served version per true label",
                                   labels=["model", "label", "window"])
        mae = GaugeMetricFamily("tinymlp_feedback_mae", "Live mean absolute error of the served version",
                                labels=["model", "window"])
        rmse = GaugeMetricFamily("tinymlp_feedback_rmse", "Live root mean squared error of the served version",
                                 labels=["model", "window"])
        psi = GaugeMetricFamily("tinymlp_drift_psi", "PSI of the served version's latest TINYMLP_DRIFT_WINDOW "
                                "logged rows against its training data, per feature", labels=["model", "feature"])
        ks = GaugeMetricFamily("tinymlp_drift_ks", "KS statistic of the same, per feature", labels=["model", "feature"])
        prediction = GaugeMetricFamily("tinymlp_drift_prediction_psi", "PSI of the served version's latest "
                                       "predictions against its predictions on its training data", labels=["model"])
        window_rows = GaugeMetricFamily("tinymlp_drift_window_rows", "Rows in the drift window", labels=["model"])
        ok = 1
        for name, entry in sorted(self.registry.snapshot.models.items()):
            model = entry.served_model
            if model is None:
                continue
            classifier = model.info.output.is_classifier
            figures = live(self.logs, model, self.config.feedback_window)
            if "error" in figures:
                ok = 0
                break
            for window, q in (("recent", figures), ("since_serving", figures["since_serving"])):
                rows.add_metric([name, window], q["feedback_rows"])
                if classifier and q["accuracy"] is not None:
                    accuracy.add_metric([name, window], q["accuracy"])
                    for label, r in q["recall"].items():
                        recall.add_metric([name, label, window], r)
                elif not classifier and q["mae"] is not None:
                    mae.add_metric([name, window], q["mae"])
                    rmse.add_metric([name, window], q["rmse"])
            try:
                found = drift(self.logs, model, self.config.drift_window)
            except Unavailable:
                ok = 0
                break
            if found["window_rows"]:
                window_rows.add_metric([name], found["window_rows"])
                for feature, f in found["features"].items():
                    psi.add_metric([name, feature], f["psi"])
                    ks.add_metric([name, feature], f["ks"])
                prediction.add_metric([name], found["prediction"]["psi"])
        up.add_metric([], ok)
        yield up
        yield from (rows, accuracy, recall, mae, rmse, psi, ks, prediction, window_rows)
