"""``tinymlp`` (``python -m client``): predict, list models, train, follow and cancel jobs.

    tinymlp predict red 255,0,0 12,200,40
    tinymlp predict red --file colours.csv          # CSV or JSON lines; - reads stdin
    tinymlp models
    tinymlp train red --epochs 5 --example 250,10,10=red --wait
    tinymlp jobs
    tinymlp cancel 3f2a9c0d41b7e8a2

``--url`` (default $TINYMLP_URL, else http://localhost:8000) and ``--token`` (default
$TINYMLP_TRAIN_TOKEN). An error is one line on stderr and exit status 1; usage errors 2.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from contextlib import suppress
from pathlib import Path

from client import __version__
from client.api import DEFAULT_URL, Client
from client.errors import ClientError


class Usage(Exception):
    """Input this command cannot use: one line, exit status 1."""


def number(text: str) -> float | int:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise Usage(f"{text!r} is not a number") from None


def row(text: str) -> list:
    """'255,0,0' -> [255, 0, 0]"""
    return [number(v) for v in text.split(",")]


def example(text: str) -> tuple:
    """'250,10,10=red' -> ([250, 10, 10], 'red'); '1500,3,10=231.5' -> ([1500, 3, 10], 231.5)"""
    values, sep, target = text.rpartition("=")
    if not sep or not values or not target:
        raise Usage(f"an example is values=label (or =value), such as 250,10,10=red; got {text!r}")
    with suppress(ValueError):  # a label stays a string
        target = float(target)
    return row(values), target


def read_rows(path: str) -> list:
    """Rows from CSV (a header of feature names makes each row an object) or JSON lines."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise Usage(f"cannot read {path}: {e.strerror}") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise Usage(f"{path} holds no rows")
    if lines[0].lstrip().startswith(("[", "{")):
        rows = []
        for i, line in enumerate(lines, 1):
            try:
                rows.append(json.loads(line))
            except ValueError as e:
                raise Usage(f"{path}, line {i}: not JSON ({e})") from None
        return rows
    records = list(csv.reader(io.StringIO("\n".join(lines))))
    header = None
    try:
        [number(v) for v in records[0]]
    except Usage:
        header, records = [h.strip() for h in records[0]], records[1:]
    rows = []
    for i, record in enumerate(records, 2 if header else 1):
        try:
            values = [number(v) for v in record]
        except Usage as e:
            raise Usage(f"{path}, line {i}: {e}") from None
        rows.append(dict(zip(header, values)) if header else values)
    return rows


def shown(r) -> str:
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in (r.values() if isinstance(r, dict) else r))


def cmd_predict(client: Client, args) -> None:
    rows = [row(r) for r in args.rows]
    if args.file:
        rows += read_rows(args.file)
    if not rows:
        raise Usage("give rows (255,0,0 ...) or --file")
    answer = client.predict(args.model, rows, version=args.version, label=args.label)
    if args.json:  # the service's answer as it came (one a line, if the rows took several requests)
        for raw in answer.answers:
            print(json.dumps(raw))
        return
    for r, p in zip(rows, answer):
        if p.label is not None:
            probs = ", ".join(f"{k} {v:.3f}" for k, v in (p.probabilities or {}).items())
            print(f"{shown(r)}\t{p.label}\t({probs}; v{p.version})")
        else:
            value = ", ".join(f"{v:.4g}" for v in p.value) if isinstance(p.value, list) else f"{p.value:.6g}"
            print(f"{shown(r)}\t{value}\t(v{p.version})")


def cmd_models(client: Client, args) -> None:
    models = client.models()
    if args.json:
        print(json.dumps([m.__dict__ for m in models]))
        return
    for m in models:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(m.labels.items())) or "-"
        served = f"v{m.served_version}" if m.served_version is not None else f"none ({m.unservable})"
        print(f"{m.name:<14} serves {served:<6} versions {len(m.versions):<4} labels {labels}"
              + (f"  inputs {','.join(m.features)}" if m.features else ""))


def _job_line(job) -> str:
    line = f"{job.id}  {job.model:<12} {job.status:<9}"
    if job.progress:
        line += f" epoch {len(job.progress)}/{job.epochs}"
    if job.published_version is not None:
        line += f"  published v{job.published_version}" + (" (promoted)" if job.promoted else "")
    if job.error:
        line += f"  {job.error}"
    return line


def cmd_train(client: Client, args) -> None:
    job = client.train(args.model, epochs=args.epochs, samples=args.samples, promote=args.promote,
                       learning_rate=args.learning_rate, seed=args.seed, from_version=args.from_version,
                       examples=[example(e) for e in args.example] or None)
    print(f"queued job {job.id} (training {job.model} from version {job.parent_version})")
    if not args.wait:
        return
    job = job.wait(progress=not args.quiet)
    print(_job_line(job))
    if job.promotion_reason:
        print(f"promotion: {job.promotion_reason}")
    if job.status != "succeeded":
        raise ClientError(f"job {job.id} {job.status}: {job.error}")


def cmd_jobs(client: Client, args) -> None:
    for job in client.jobs(model=args.model, status=args.status, limit=args.limit):
        print(_job_line(job))


def cmd_job(client: Client, args) -> None:
    job = client.job(args.id)
    print(_job_line(job) if not args.json else json.dumps({k: v for k, v in job.__dict__.items() if k != "_client"}))


def cmd_cancel(client: Client, args) -> None:
    job = client.cancel(args.id)
    print(_job_line(job) + ("  (cancel requested: it stops at its next epoch)" if job.cancel_requested else ""))


def cmd_ready(client: Client, args) -> None:
    r = client.ready()
    print("ready" if r else f"not ready: {r.message}")
    for name, why in r.failures.items():
        print(f"  {name}: {why}")
    if not r:
        raise SystemExit(1)


def build_parser() -> argparse.ArgumentParser:
    # Without --url and --token the Client takes $TINYMLP_URL and $TINYMLP_TRAIN_TOKEN itself.
    p = argparse.ArgumentParser(prog="tinymlp", description="Ask a tinymlp service for predictions and training.")
    p.add_argument("--url", help=f"the service (default: $TINYMLP_URL, else {DEFAULT_URL})")
    p.add_argument("--token", help="the training token (default: $TINYMLP_TRAIN_TOKEN)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    p.add_argument("--version", action="version", version=f"tinymlp client {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("predict", help="predict rows: tinymlp predict red 255,0,0 12,200,40")
    s.add_argument("model")
    s.add_argument("rows", nargs="*", help="rows of comma-separated values, in the model's feature order")
    s.add_argument("--file", help="rows from a CSV (a header of feature names is fine) or JSON-lines file; - for stdin")
    s.add_argument("--model-version", dest="version", type=int, help="a pinned version")
    s.add_argument("--label", help="the version a label points at")
    s.add_argument("--json", action="store_true", help="print the service's answer as it came (JSON)")

    s = sub.add_parser("models", help="the models, their versions and labels")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("train", help="queue a job that trains a model further")
    s.add_argument("model")
    s.add_argument("--epochs", type=int)
    s.add_argument("--samples", type=int)
    s.add_argument("--learning-rate", type=float)
    s.add_argument("--seed", type=int)
    s.add_argument("--from", dest="from_version", type=int, help="the version to start from (default: the served)")
    s.add_argument("--promote", choices=("if_better", "always", "never"))
    s.add_argument("--example", action="append", default=[], metavar="VALUES=LABEL",
                   help="a labelled row, such as 250,10,10=red (again for more)")
    s.add_argument("--wait", action="store_true", help="wait until it finishes, with a bar of epochs")
    s.add_argument("--quiet", action="store_true", help="with --wait: no bar")

    s = sub.add_parser("jobs", help="training jobs, newest first")
    s.add_argument("--model")
    s.add_argument("--status", choices=("queued", "running", "succeeded", "failed", "cancelled"))
    s.add_argument("--limit", type=int, default=20)

    s = sub.add_parser("job", help="one job")
    s.add_argument("id")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("cancel", help="cancel a job")
    s.add_argument("id")

    sub.add_parser("ready", help="whether the service can serve (exit 1 if not)")
    # Rows and examples may start with a minus (-1,1 or -1.5,2=Q2): argparse takes only bare
    # negative numbers for values, so widen what it takes as one (no option here starts "-<digit>").
    for parser in (p, *sub.choices.values()):
        parser._negative_number_matcher = re.compile(r"^-\.?\d")
    return p


COMMANDS = {"predict": cmd_predict, "models": cmd_models, "train": cmd_train, "jobs": cmd_jobs, "job": cmd_job,
            "cancel": cmd_cancel, "ready": cmd_ready}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with Client(args.url, token=args.token, timeout=args.timeout) as client:
            COMMANDS[args.command](client, args)
    except (ClientError, Usage, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
