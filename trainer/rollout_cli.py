"""``python -m trainer rollout``: start, follow, promote or end a model's rollout from the
command line, with the same steps and figures as the HTTP API (``core.rollouts``).

    python -m trainer rollout red --candidate 3 --percent 10      # split: v3 answers 10%
    python -m trainer rollout red --candidate 3 --shadow          # shadow: v3 runs beside every request, unseen
    python -m trainer rollout red [--status] [--json]             # the figures
    python -m trainer rollout red --promote                       # default -> the candidate
    python -m trainer rollout red --end                           # the stable stays

The counters live in the shared database (SQLite under TINYMLP_STATE_DIR, or PostgreSQL at
TINYMLP_DATABASE_URL): give this command the same settings as the service.
"""

from __future__ import annotations

import argparse
import json

from core import rollouts as rl
from core.rollouts import control
from core.rollouts.figures import Totals, figures
from core.rollouts.records import Guards, Mode


class RolloutCLIError(Exception):
    """One line for the user: the trainer's CLI prints it and exits 1."""


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percent above 0 and at most 100, got {text!r}") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"expected a percent above 0 and at most 100, got {value:g}")
    return value


def _number(low: float, high: float, what: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value:g}")
        return value

    return parse


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1, got {value}")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser("rollout", help="start, follow, promote or end a rollout of a new version (a canary share "
                                       "or a shadow, compared live with the served version)")
    p.add_argument("name")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--candidate", type=_whole, metavar="V", help="start a rollout of version V against the "
                                                                    "served version")
    act.add_argument("--status", action="store_true", help="the rollout and its figures (the default)")
    act.add_argument("--promote", action="store_true", help="move the default label to the candidate; ends it")
    act.add_argument("--end", action="store_true", help="end it; the stable stays served")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--percent", type=_share, help="a split: the candidate's share of unpinned requests (default 10)")
    mode.add_argument("--shadow", action="store_true", help="a shadow: the stable answers every request; the "
                                                            "candidate runs on the same rows, unseen")
    p.add_argument("--min-rows", type=_whole, help="compared rows before any guard acts (default 200)")
    p.add_argument("--min-agreement", type=_number(0, 1, "a number from 0 to 1"),
                   help="roll back when agreement falls below it (default 0.9)")
    latency = p.add_mutually_exclusive_group()
    latency.add_argument("--max-p99-ratio", type=_number(1, 1e6, "a number from 1"),
                         help="roll back when the candidate's p99 exceeds this many times the stable's (default 3)")
    latency.add_argument("--no-latency-guard", action="store_true", help="no latency guard")
    p.add_argument("--auto-promote-after", type=_whole, metavar="ROWS",
                   help="promote by itself once this many rows were compared with every guard holding")
    p.add_argument("--tolerance", type=_number(0, float("inf"), "a number from 0"),
                   help="regressors: the largest difference of a value that still agrees (default: the stable's "
                        "held-out RMSE)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON (GET /models/<name>/rollout's)")


STARTING = ("percent", "shadow", "min_rows", "min_agreement", "max_p99_ratio", "no_latency_guard",
            "auto_promote_after", "tolerance")


def run(args, store, config) -> None:
    """The command, with the store and the trainer's settings (the database's folder and URL)."""
    given = [f"--{k.replace('_', '-')}" for k in STARTING if getattr(args, k) not in (None, False)]
    if args.candidate is None and given:
        raise RolloutCLIError(f"{', '.join(given)} {'go' if len(given) > 1 else 'goes'} with --candidate (starting a "
                              "rollout)")
    unusable = config.unusable.get("TINYMLP_DATABASE_URL")
    if unusable:
        raise RolloutCLIError(unusable)
    try:
        table = rl.RolloutTable.open(config.state_dir, config.database_url)
    except rl.Unavailable as e:
        raise RolloutCLIError(f"the rollouts' counters cannot be reached: {e}") from None
    try:
        _act(args, store, table)
    except rl.Unavailable as e:
        raise RolloutCLIError(f"the rollouts' counters cannot be reached: {e}") from None
    except rl.RolloutError as e:
        raise RolloutCLIError(str(e)) from None
    finally:
        table.close()


def _act(args, store, table) -> None:
    name = args.name
    if not store.versions(name):
        store.open(name)  # no such model: says so, naming the models there are
    if args.candidate is not None:
        guards = {k: getattr(args, k) for k in ("min_rows", "min_agreement", "max_p99_ratio", "auto_promote_after")
                  if getattr(args, k) is not None}
        if args.no_latency_guard:
            guards["max_p99_ratio"] = None
        rollout = control.start(store, table, name, args.candidate, mode=Mode.SHADOW if args.shadow else Mode.SPLIT,
                                percent=args.percent, guards=Guards(**guards), tolerance=args.tolerance, by="cli")
        _show(figures(rollout, Totals()), args.json)
        if not args.json:
            print(f"every worker and replica routes {name} by it within TINYMLP_RELOAD_INTERVAL; follow it with "
                  f"python -m trainer rollout {name} --status")
        return
    if args.promote or args.end:
        rollout = (control.promote if args.promote else control.end)(store, table, name, by="cli")
    else:
        rollout = control.read(store, name)
        if rollout is None:
            raise rl.NoRollout(f"{name} has had no rollout; start one with python -m trainer rollout {name} "
                               "--candidate V (--percent P | --shadow)")
    try:
        totals = table.totals(rollout.id)
    except rl.UnknownRollout:
        totals = Totals()
    _show(figures(rollout, totals), args.json)


def _ms(value) -> str:
    return "-" if value is None else f"{value:.3f} ms"


def _show(f: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(f))
        return
    share = "every request shadowed" if f["mode"] == "shadow" else f"{f['percent']:g}%"
    print(f"{f['model']}: rollout {f['id']} {f['status']} ({f['mode']}, {share}): v{f['candidate']} against "
          f"v{f['stable']}, started {f['started_at']}" + (f" by {f['started_by']}" if f["started_by"] else "")
          + (f", ended {f['ended_at']}" if f["ended_at"] else ""))
    req, err, runs = f["requests"], f["errors"], f["runs"]
    print(f"  requests   stable {req['stable']:,}  candidate {req['candidate']:,}")
    if f["rows_compared"]:
        print(f"  compared   {f['rows_compared']:,} rows, {f['rows_agreed']:,} agreed ({f['agreement']:.2%}); "
              f"difference mean {f['mean_abs_diff']:.4g}, max {f['max_abs_diff']:.4g}")
    else:
        print("  compared   no rows yet")
    print(f"  errors     stable {err['stable']:,} of {runs['stable']:,} runs  candidate {err['candidate']:,} of "
          f"{runs['candidate']:,} runs")
    lat = f["latency_ms"]
    print(f"  latency    stable p50 {_ms(lat['stable']['p50'])}, p99 {_ms(lat['stable']['p99'])}; candidate p50 "
          f"{_ms(lat['candidate']['p50'])}, p99 {_ms(lat['candidate']['p99'])}")
    g = f["guards"]
    print(f"  guards     min_rows {g['min_rows']}, min_agreement {g['min_agreement']:g}, max_p99_ratio "
          f"{'-' if g['max_p99_ratio'] is None else format(g['max_p99_ratio'], 'g')}, auto_promote_after "
          f"{g['auto_promote_after'] or '-'}" + (f", tolerance {f['tolerance']:g}" if f["tolerance"] is not None
                                                  else ""))
    if f["reason"]:
        print(f"  reason     {f['reason']}")
