"""``tinymlp`` (``python -m client``): predict, list models, train, follow and cancel jobs.

    tinymlp predict red 255,0,0 12,200,40
    tinymlp predict red --file colours.csv          # CSV or JSON lines; - reads stdin
    tinymlp models
    tinymlp train red --epochs 5 --example 250,10,10=red --wait
    tinymlp jobs
    tinymlp cancel 3f2a9c0d41b7e8a2
    tinymlp rollout red --candidate 3 --percent 10   # then: tinymlp rollout red [--promote | --end]
    tinymlp feedback red 9c1e... red not_red        # the true label of every row of that request
    tinymlp feedback red 9c1e... --row 1=red        # one row's
    tinymlp drift red

``--url``, ``--token`` and ``--timeout`` go before or after the command. The URL and token
come from the option, else the environment ($TINYMLP_URL, $TINYMLP_TRAIN_TOKEN), else a
``.env`` file in the current folder, else http://localhost:8000 and no token. Any error,
a mistyped option included, is one line on stderr and exit status 1. Whatever the service
sends is printed with its control characters escaped (``client.text``).

This module holds the entry point (``main``, ``build_parser``, ``settings``, ``COMMANDS``)
and the model and job commands. The others live beside it, each adding its subcommands
through ``add_parsers(command)`` and naming them in its ``COMMANDS``:

    client/cli_rollouts.py   rollout
    client/cli_feedback.py   feedback, live, drift, retraining
    client/cli_args.py       Usage and the argument types every command module shares
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys
from contextlib import suppress
from pathlib import Path

from client import __version__, cli_feedback, cli_rollouts, envfile
from client.api import DEFAULT_URL, Client
from client.cli_args import Usage, number, positive_real, positive_whole, read_text, real, share, whole
from client.errors import ClientError, Unauthorized
from client.jobs import Job
from client.text import printable
from client.transport import MAX_ANSWER_BYTES

ENV_FILE = ".env"
ENV_NAMES = ("TINYMLP_URL", "TINYMLP_TRAIN_TOKEN", "TINYMLP_FEEDBACK_TOKEN")
TOKEN_HINT = "give the training token with --token, or set TINYMLP_TRAIN_TOKEN (in the environment or ./.env)"
FEEDBACK_TOKEN_HINT = ("give the feedback token with --feedback-token, or set TINYMLP_FEEDBACK_TOKEN (in the "
                       "environment or ./.env)")


class Parser(argparse.ArgumentParser):
    """argparse, whose mistakes are one line (and exit status 1) like every other error."""

    def error(self, message: str):
        raise Usage(f"{message} (see {self.prog} --help)")


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
    text = read_text(path)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise Usage(f"{path} holds no rows")
    if lines[0].lstrip().startswith(("[", "{")):
        rows = []
        for i, line in enumerate(lines, 1):
            try:
                rows.append(json.loads(line))
            except (ValueError, RecursionError) as e:
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


# -- commands -----------------------------------------------------------------------------

def cmd_predict(client: Client, args) -> None:
    rows = [row(r) for r in args.rows]
    if args.file:
        rows += read_rows(args.file)
    if not rows:
        raise Usage("give rows (255,0,0 ...) or --file")
    answer = client.predict(args.model, rows, version=args.version, label=args.label, routing_key=args.routing_key)
    if args.json:  # the service's answer as it came (one a line, if the rows took several requests)
        for raw in answer.answers:
            print(json.dumps(raw))
        return
    for r, p in zip(rows, answer):
        if p.label is not None:
            probs = ", ".join(f"{printable(k)} {v:.3f}" for k, v in (p.probabilities or {}).items())
            print(f"{printable(shown(r))}\t{printable(p.label)}\t({probs}; v{p.version})")
        else:
            value = ", ".join(f"{v:.4g}" for v in p.value) if isinstance(p.value, list) else f"{p.value:.6g}"
            print(f"{printable(shown(r))}\t{value}\t(v{p.version})")


def versions_text(versions: list[int]) -> str:
    """[1, 2, 3, 7] -> '4 versions (1-3, 7)': a count that cannot be read as a version number."""
    if not versions:
        return "no versions"
    runs: list[list[int]] = []
    for v in sorted(set(versions)):
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in runs]
    if len(parts) > 5:
        parts = [*parts[:2], "...", *parts[-2:]]
    n = len(versions)
    return f"{n} version{'s' * (n != 1)} ({', '.join(parts)})"


def cmd_models(client: Client, args) -> None:
    models = client.models()
    if args.json:
        print(json.dumps([m.__dict__ for m in models]))
        return
    notes = []
    for m in models:
        name = printable(m.name)
        labels = ", ".join(f"{printable(k)}=v{v}" for k, v in sorted(m.labels.items())) or "-"
        served = f"v{m.served_version}" if m.served_version is not None else f"nothing ({printable(m.unservable)})"
        print(f"{name:<14} serves {served:<5} {versions_text(m.versions):<20} labels {labels}"
              + (f"  inputs {printable(','.join(m.features))}" if m.features else ""))
        pinned, newest = m.labels.get("default"), m.newest
        if pinned is not None and newest is not None and pinned < newest:
            notes.append(f"note: {name} serves v{pinned} because its default label pins it; v{newest} is newer "
                         f"(to serve v{newest}: python -m trainer label {name} default {newest})")
    for note in notes:
        print(note, file=sys.stderr)


def _job_line(job: Job) -> str:
    line = f"{printable(job.id)}  {printable(job.model):<12} {printable(job.status):<9}"
    if job.progress:
        line += f" epoch {len(job.progress)}/{job.epochs}"
    if job.published_version is not None:
        line += f"  published v{job.published_version}" + (" (promoted)" if job.promoted else "")
    if job.error:
        line += f"  {printable(job.error)}"
    return line


def cmd_train(client: Client, args) -> None:
    if args.percent is not None and args.promote != "canary":
        raise Usage("--percent is the share of a canary rollout: give it with --promote canary")
    job = client.train(args.model, epochs=args.epochs, samples=args.samples, promote=args.promote,
                       learning_rate=args.learning_rate, batch_size=args.batch_size, seed=args.seed,
                       from_version=args.from_version, examples=[example(e) for e in args.example] or None,
                       percent=args.percent)
    print(f"queued job {printable(job.id)} (training {printable(job.model)} from version {job.parent_version})")
    if not args.wait:
        return
    job = job.wait(progress=not args.quiet)
    print(_job_line(job))
    if job.status != "succeeded":
        raise ClientError(f"job {job.id} {job.status}: {job.error or 'no reason given'}")
    print(served_after(client, job, quiet=args.quiet))


def served_after(client: Client, job: Job, *, quiet: bool = False) -> str:
    """In plain words: which version the service serves now that ``job`` has succeeded, and why."""
    name, new = printable(job.model), job.published_version
    reason = printable(job.promotion_reason or "no reason given")
    if (job.promotion or {}).get("rule") == "canary":
        return (f"published v{new}; not promoted: {reason}; follow it with tinymlp rollout {name}, then "
                f"tinymlp rollout {name} --promote (or --end)")
    if job.promoted:
        if not quiet:
            print(f"published v{new} and promoted it ({reason}); waiting until every replica serves it "
                  f"(within {job.served_within():g} s)...", file=sys.stderr)
        job.wait_served()
        return f"the service now serves {name} v{new} ({reason})"
    served = client.model(job.model).served_version
    keeps = f"the service keeps serving v{served}" if served is not None else "the service serves no version of it"
    return (f"published v{new} but not promoted ({reason}): {keeps}; to serve v{new}: "
            f"python -m trainer label {name} default {new}, or train with --promote always")


def cmd_jobs(client: Client, args) -> None:
    for job in client.jobs(model=args.model, status=args.status, limit=None if args.all else args.limit):
        print(_job_line(job))


def cmd_job(client: Client, args) -> None:
    job = client.job(args.id)
    print(json.dumps(job.to_json()) if args.json else _job_line(job))


def cmd_cancel(client: Client, args) -> None:
    job = client.cancel(args.id)
    print(_job_line(job) + ("  (cancel requested: it stops between its next two batches)" if job.cancel_requested
                            else ""))


def cmd_download(client: Client, args) -> None:
    path = client.download(args.model, args.version, args.output)
    print(f"wrote {path} ({path.stat().st_size:,} bytes, ONNX)")


def cmd_delete(client: Client, args) -> None:
    job = client.delete_job(args.id)
    print(f"removed the record of job {printable(job.id)} ({printable(job.model)}, {printable(job.status)})")


def cmd_ready(client: Client, args) -> None:
    r = client.ready()
    print("ready" if r else f"not ready: {printable(r.message)}")
    for name, why in r.failures.items():
        print(f"  {printable(name)}: {printable(why)}")
    if not r:
        raise SystemExit(1)


# -- the parser ---------------------------------------------------------------------------

def _connection_options(p: argparse.ArgumentParser, *, defaults: bool) -> None:
    """--url, --token, --timeout and --max-answer-mib: on the main parser with their defaults,
    and on every command without (so that, given after the command, they are not overwritten)."""
    d = (lambda value: value) if defaults else (lambda value: argparse.SUPPRESS)
    p.add_argument("--url", default=d(None), help=f"the service (default: $TINYMLP_URL, else {DEFAULT_URL})")
    p.add_argument("--token", default=d(None), help="the training token (default: $TINYMLP_TRAIN_TOKEN)")
    p.add_argument("--feedback-token", default=d(None), help="the feedback token (default: $TINYMLP_FEEDBACK_TOKEN)")
    p.add_argument("--timeout", type=positive_real, default=d(30.0),
                   help="seconds a call may take in all, retries and the whole answer included (default 30)")
    p.add_argument("--max-answer-mib", type=positive_real, default=d(MAX_ANSWER_BYTES / 2**20), metavar="MIB",
                   help=f"the largest answer taken, in MiB (default {MAX_ANSWER_BYTES // 2**20})")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="tinymlp", description="Ask a tinymlp service for predictions and training. The URL and "
               "token come from --url/--token, else $TINYMLP_URL/$TINYMLP_TRAIN_TOKEN, else ./.env.")
    _connection_options(p, defaults=True)
    p.add_argument("--version", action="version", version=f"tinymlp client {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help, description=help)
        _connection_options(s, defaults=False)
        return s

    s = command("predict", "predict rows: tinymlp predict red 255,0,0 12,200,40")
    s.add_argument("model", help="the model's name")
    s.add_argument("rows", nargs="*", help="rows of comma-separated values, in the model's feature order")
    s.add_argument("--file", help="rows from a CSV (a header of feature names is fine) or JSON-lines file; - for stdin")
    s.add_argument("--model-version", dest="version", type=positive_whole, help="a pinned version")
    s.add_argument("--label", help="the version a label points at")
    s.add_argument("--routing-key", metavar="KEY",
                   help="a user or session id: while a rollout runs, the same key gets the same version")
    s.add_argument("--json", action="store_true", help="print the service's answer as it came (JSON)")

    s = command("models", "the models, their versions and labels")
    s.add_argument("--json", action="store_true", help="print them as JSON")

    s = command("train", "queue a job that trains a model further (needs the training token)")
    s.add_argument("model", help="the model's name")
    s.add_argument("--epochs", type=positive_whole, help="passes over the training data (service default: 10)")
    s.add_argument("--samples", type=positive_whole,
                   help="fresh rows generated from the model's task to train on (service default: the task's)")
    s.add_argument("--learning-rate", type=real, help="step size (default: the version's own recipe)")
    s.add_argument("--batch-size", type=positive_whole, help="rows per step (default: the version's own recipe)")
    s.add_argument("--seed", type=whole, help="seed of the data and shuffling, for a repeatable job")
    s.add_argument("--from", dest="from_version", type=positive_whole, metavar="VERSION",
                   help="the version to start from (default: the served one)")
    s.add_argument("--promote", choices=("if_better", "always", "force", "never", "canary"),
                   help="when the new version is served: if_better (default: if it does better on held-out "
                        "data), always (unless it is much worse than its parent), force (even then), never, or "
                        "canary (a rollout of it answers --percent of requests, compared live: tinymlp rollout)")
    s.add_argument("--percent", type=share, help="with --promote canary: its share of requests (default 10)")
    s.add_argument("--example", action="append", default=[], metavar="VALUES=LABEL",
                   help="a labelled row to learn, such as 250,10,10=red (again for more)")
    s.add_argument("--wait", action="store_true",
                   help="wait until it finishes (a bar of epochs), then say which version is served and why")
    s.add_argument("--quiet", action="store_true", help="with --wait: no bar")

    s = command("jobs", "training jobs, newest first")
    s.add_argument("--model", help="only this model's")
    s.add_argument("--status", choices=("queued", "running", "succeeded", "failed", "cancelled"), help="only these")
    s.add_argument("--limit", type=positive_whole, default=20, help="at most this many (default 20)")
    s.add_argument("--all", action="store_true", help="every job, page after page (no --limit)")

    s = command("job", "one job")
    s.add_argument("id", help="the job's id")
    s.add_argument("--json", action="store_true", help="print it as JSON")

    s = command("cancel", "cancel a job (a running one stops between two batches; nothing is published)")
    s.add_argument("id", help="the job's id")

    s = command("download", "a version as an ONNX file, to run in onnxruntime or Triton")
    s.add_argument("model", help="the model")
    s.add_argument("--model-version", dest="version", type=positive_whole, metavar="VERSION",
                   help="the version (default: the served one)")
    s.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write it")

    s = command("delete", "remove a finished job's record (cancel a queued or running one first)")
    s.add_argument("id", help="the job's id")

    cli_rollouts.add_parsers(command)  # rollout

    command("ready", "whether the service can serve (exit 1 if not)")

    cli_feedback.add_parsers(command)  # feedback, live, drift, retraining

    # Rows and examples may start with a minus (-1,1 or -1.5,2=Q2): argparse takes only bare
    # negative numbers for values, so widen what it takes as one (no option here starts "-<digit>").
    for parser in (p, *sub.choices.values()):
        parser._negative_number_matcher = re.compile(r"^-\.?\d")
    return p


COMMANDS = {"predict": cmd_predict, "models": cmd_models, "train": cmd_train, "jobs": cmd_jobs, "job": cmd_job,
            "cancel": cmd_cancel, "delete": cmd_delete, "download": cmd_download, "ready": cmd_ready,
            **cli_rollouts.COMMANDS, **cli_feedback.COMMANDS}


def settings(args) -> tuple[str | None, str | None, str | None]:
    """The URL and the two tokens: the options, else the environment, else ./.env (read only when needed)."""
    url, token, feedback_token = args.url, args.token, args.feedback_token
    wanted = {name for name, given in zip(ENV_NAMES, (url, token, feedback_token))
              if given is None and not os.environ.get(name)}
    found = envfile.read(Path(ENV_FILE)) if wanted else {}
    url = url or os.environ.get("TINYMLP_URL") or found.get("TINYMLP_URL") or None
    token = token if token is not None else (os.environ.get("TINYMLP_TRAIN_TOKEN") or found.get("TINYMLP_TRAIN_TOKEN"))
    if feedback_token is None:
        feedback_token = os.environ.get("TINYMLP_FEEDBACK_TOKEN") or found.get("TINYMLP_FEEDBACK_TOKEN")
    return url, token or None, feedback_token or None


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        url, token, feedback_token = settings(args)
        with Client(url, token=token or "", timeout=args.timeout, max_answer_bytes=int(args.max_answer_mib * 2**20),
                    feedback_token=feedback_token or "") as client:
            COMMANDS[args.command](client, args)
    except Unauthorized as e:
        hint = FEEDBACK_TOKEN_HINT if args.command == "feedback" else TOKEN_HINT
        print(f"error: {printable(e)}; {hint}", file=sys.stderr)
        return 1
    except (ClientError, Usage, ValueError, TimeoutError) as e:
        print(f"error: {printable(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (tinymlp jobs | head): nothing more to say
        with suppress(OSError):  # and nothing for Python to flush into the closed pipe at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0
