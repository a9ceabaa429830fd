"""``tinymlp feedback``, ``live``, ``drift`` and ``retraining``: the true answers for earlier
predictions, the live quality and drift they show, and when they queue a training job.

    tinymlp feedback red 9c1e... red not_red        # the true label of every row of that request
    tinymlp feedback red 9c1e... --row 1=red        # one row's
    tinymlp drift red
"""

from __future__ import annotations

import csv
import io
import json

from client.api import Client
from client.cli_args import Usage, number, positive_whole, read_text, real
from client.errors import ClientError
from client.text import printable


def _truths(client: Client, model: str, texts: list[str]) -> tuple[str, list]:
    """('labels', [...]) for a classifier, ('values', [...]) for a regressor (a value with
    several outputs written 1.5;2): the model says which."""
    if client.model(model).kind == "regressor":
        return "values", [[number(v) for v in t.split(";")] if ";" in t else number(t) for t in texts]
    return "labels", list(texts)


def _row_truth(text: str) -> tuple[int, str]:
    """'2=red' -> (2, 'red')"""
    row, sep, truth = text.partition("=")
    if not sep or not row.strip().isdigit() or not truth:
        raise Usage(f"--row takes ROW=TRUTH, such as 2=red (0 for the first row); got {text!r}")
    return int(row), truth


def read_feedback(path: str) -> list[tuple[str, int, str]]:
    """Lines of request_id,row,truth (CSV; a header line is skipped)."""
    text = read_text(path)
    out = []
    for i, record in enumerate(csv.reader(io.StringIO(text)), 1):
        if not record or not "".join(record).strip():
            continue
        if len(record) != 3:
            raise Usage(f"{path}, line {i}: expected request_id,row,truth; got {len(record)} fields")
        rid, row, truth = (v.strip() for v in record)
        if i == 1 and not row.isdigit():
            continue  # a header
        if not row.isdigit():
            raise Usage(f"{path}, line {i}: the row must be a whole number from 0, got {row!r}")
        out.append((rid, int(row), truth))
    if not out:
        raise Usage(f"{path} holds no feedback lines (request_id,row,truth)")
    return out


def cmd_feedback(client: Client, args) -> None:
    if args.file:
        if args.request_id or args.truths or args.row:
            raise Usage("give --file, or a request id and truths, not both")
        lines = read_feedback(args.file)
        kind, truths = _truths(client, args.model, [t for _, _, t in lines])
        key = "label" if kind == "labels" else "value"
        body = [{"request_id": rid, "row": row, key: truth} for (rid, row, _), truth in zip(lines, truths)]
        result = client.feedback_items(args.model, body)
    else:
        if not args.request_id or bool(args.truths) == bool(args.row):
            raise Usage("give the request id and either the truth of every row, or --row N=TRUTH (again for more); "
                        "or --file")
        if args.row:
            pairs = [_row_truth(text) for text in args.row]
            kind, truths = _truths(client, args.model, [t for _, t in pairs])
            key = "label" if kind == "labels" else "value"
            result = client.feedback_items(args.model, [{"request_id": args.request_id, "row": row, key: truth}
                                                        for (row, _), truth in zip(pairs, truths)])
        else:
            kind, truths = _truths(client, args.model, args.truths)
            result = client.feedback(args.model, args.request_id, **{kind: truths})
    print(f"{result.rows} feedback row{'s' * (result.rows != 1)} for {printable(result.model)}: {result.new} new, "
          f"{result.unchanged} unchanged, {result.replaced} replaced")
    for r in result.replacements:
        print(f"  request {printable(r.request_id)} row {r.row} (v{r.version}): {printable(r.previous)} -> "
              f"{printable(r.now)}")


def _quality(q, window: str) -> str:
    if q.feedback_rows == 0:
        return f"{window}: no feedback yet"
    if q.accuracy is not None:
        recall = ", ".join(f"{printable(k)} {v:.3f}" for k, v in q.recall.items())
        return f"{window}: accuracy {q.accuracy:.4f} over {q.feedback_rows} rows (recall: {recall})"
    return f"{window}: MAE {q.mae:.4g}, RMSE {q.rmse:.4g} over {q.feedback_rows} rows"


def cmd_live(client: Client, args) -> None:
    live = client.live(args.model, args.version)
    if live.error:
        raise ClientError(f"the service cannot read its prediction log: {live.error}")
    print(_quality(live.recent, f"latest {live.window}"))
    print(_quality(live.since_serving, "since serving"))


def _level(psi: float | None) -> str:
    if psi is None:
        return ""
    return "shifted" if psi >= 0.2 else "moderate" if psi >= 0.1 else ""


def cmd_drift(client: Client, args) -> None:
    d = client.drift(args.model)
    if args.json:
        print(json.dumps({"model": d.model, "version": d.version, "available": d.available,
                          "window_rows": d.window_rows, "features": {k: v.__dict__ for k, v in d.features.items()},
                          "prediction": {"psi": d.prediction_psi}}))
        return
    if not d.available:
        print(f"{printable(d.model)} v{d.version}: drift unavailable: {printable(d.reason)}")
        return
    if not d.window_rows:
        print(f"{printable(d.model)} v{d.version}: no logged predictions yet")
        return
    print(f"{printable(d.model)} v{d.version}: its latest {d.window_rows} rows against its training data")
    width = max(len("prediction"), *(len(printable(f)) for f in d.features))
    print(f"{'feature':<{width}}  {'PSI':>7}  {'KS':>6}")
    for name, f in d.features.items():
        print(f"{printable(name):<{width}}  {f.psi:7.3f}  {f.ks:6.3f}  {_level(f.psi)}".rstrip())
    print(f"{'prediction':<{width}}  {d.prediction_psi:7.3f}  {'':>6}  {_level(d.prediction_psi)}".rstrip())


POLICY_OPTIONS = ("after_feedback", "accuracy_below", "min_feedback", "holdout", "max_rows", "epochs", "samples",
                  "promote")


def cmd_retraining(client: Client, args) -> None:
    given = {k: getattr(args, k) for k in POLICY_OPTIONS if getattr(args, k) is not None}
    if args.off and given:
        raise Usage("--off turns the policy off: give it alone")
    state = (client.stop_retraining(args.model) if args.off else client.set_retraining(args.model, **given) if given
             else client.retraining(args.model))
    if not state.enabled:
        print(f"{printable(state.model)}: no retraining policy (feedback never queues a job)")
        return
    p = state.policy or {}
    when = [f"after {p['after_feedback']} new feedback rows" if p.get("after_feedback") else None,
            f"when live accuracy < {p['accuracy_below']:g} (judged after {p.get('min_feedback')} new rows)"
            if p.get("accuracy_below") is not None else None]
    print(f"{printable(state.model)}: retrain {' or '.join(w for w in when if w)}; holds back "
          f"{p.get('holdout', 0):.0%} of the feedback, promote {printable(p.get('promote'))}")
    print(f"  {state.new_feedback} new feedback rows since the last job"
          + (f"; last job {printable(state.last_job)} ({printable(state.last_reason)})" if state.last_job else ""))


def add_parsers(command) -> None:
    """The feedback, live, drift and retraining commands on the parser: ``command(name, help)``
    makes a subcommand's parser."""
    s = command("feedback", "the true answers for an earlier prediction, by its request id (the feedback token): "
                            "tinymlp feedback red <request id> red not_red")
    s.add_argument("model", help="the model's name")
    s.add_argument("request_id", nargs="?", help="the predict answer's request id (its X-Request-ID)")
    s.add_argument("truths", nargs="*", help="every row's true label (or value), in order")
    s.add_argument("--row", action="append", default=[], metavar="ROW=TRUTH",
                   help="one row's truth instead, such as 2=red (0 for the first row; again for more)")
    s.add_argument("--file", help="CSV lines of request_id,row,truth (a header is fine); - for stdin")

    s = command("live", "a version's live quality from feedback (default: the served version)")
    s.add_argument("model", help="the model's name")
    s.add_argument("--model-version", dest="version", type=positive_whole, help="a version")

    s = command("drift", "drift of the served version's latest inputs against its training data (PSI, KS)")
    s.add_argument("model", help="the model's name")
    s.add_argument("--json", action="store_true", help="print it as JSON")

    s = command("retraining", "show, set (the training token) or turn off when feedback queues a training job")
    s.add_argument("model", help="the model's name")
    s.add_argument("--after-feedback", type=positive_whole, metavar="N", help="queue a job after N new feedback rows")
    s.add_argument("--accuracy-below", type=real, metavar="X", help="queue a job when live accuracy falls below X")
    s.add_argument("--min-feedback", type=positive_whole, metavar="N",
                   help="new feedback rows before --accuracy-below is judged (default 100)")
    s.add_argument("--holdout", type=real, metavar="SHARE", help="the share of feedback held back (default 0.2)")
    s.add_argument("--max-rows", type=positive_whole, metavar="N", help="the newest feedback rows a job uses (5000)")
    s.add_argument("--epochs", type=positive_whole, help="the job's epochs (default: a /train job's)")
    s.add_argument("--samples", type=positive_whole, help="the job's fresh task samples (default: the task's)")
    s.add_argument("--promote", choices=("if_better", "never", "canary"),
                   help="if_better (default: only if it wins on held-out data and the held-back feedback), never, "
                        "or canary (a rollout, where the service has them)")
    s.add_argument("--off", action="store_true", help="turn the policy off")


COMMANDS = {"feedback": cmd_feedback, "live": cmd_live, "drift": cmd_drift, "retraining": cmd_retraining}
