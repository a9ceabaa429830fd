"""``tinymlp rollout``: start, follow, promote or end a rollout of a new version.

    tinymlp rollout red --candidate 3 --percent 10   # then: tinymlp rollout red [--promote | --end]
"""

from __future__ import annotations

import json

from client.api import Client
from client.cli_args import Usage, fraction, non_negative, positive_whole, ratio, share
from client.rollouts import Rollout
from client.text import printable


def _ms(value) -> str:
    return "-" if value is None else f"{value:.3f} ms"


def rollout_text(r: Rollout) -> str:
    """A rollout and its figures in a few lines (what the service says, escaped)."""
    share = "every request shadowed" if r.mode == "shadow" else f"{r.percent:g}%"
    lines = [f"{printable(r.model)}: rollout {printable(r.id)} {printable(r.status)} ({printable(r.mode)}, {share}): "
             f"v{r.candidate} against v{r.stable}, started {printable(r.started_at)}"
             + (f", ended {printable(r.ended_at)}" if r.ended_at else "")]
    lines.append(f"  requests   stable {r.requests['stable']:,}  candidate {r.requests['candidate']:,}")
    if r.rows_compared:
        agreement = f" ({r.agreement:.2%})" if r.agreement is not None else ""
        diffs = (f"; difference mean {r.mean_abs_diff:.4g}, max {r.max_abs_diff:.4g}"
                 if r.mean_abs_diff is not None and r.max_abs_diff is not None else "")
        lines.append(f"  compared   {r.rows_compared:,} rows, {r.rows_agreed:,} agreed{agreement}{diffs}")
    else:
        lines.append("  compared   no rows yet")
    lines.append(f"  errors     candidate {r.candidate_errors:,}"
                 + (f" of {r.runs['candidate']:,} runs; stable {r.errors['stable']:,} of {r.runs['stable']:,}"
                    if r.runs and r.errors else ""))
    lat = r.latency_ms
    lines.append(f"  latency    stable p50 {_ms(lat['stable']['p50'])}, p99 {_ms(lat['stable']['p99'])}; "
                 f"candidate p50 {_ms(lat['candidate']['p50'])}, p99 {_ms(lat['candidate']['p99'])}")
    if r.reason:
        lines.append(f"  reason     {printable(r.reason)}")
    return "\n".join(lines)


def cmd_rollout(client: Client, args) -> None:
    starting = [f"--{k.replace('_', '-')}" for k in ("percent", "shadow", "min_rows", "min_agreement", "max_p99_ratio",
                                                     "no_latency_guard", "auto_promote_after", "tolerance")
                if getattr(args, k) not in (None, False)]
    if args.candidate is None and starting:
        raise Usage(f"{', '.join(starting)} {'go' if len(starting) > 1 else 'goes'} with --candidate (starting a "
                    "rollout)")
    if args.candidate is not None:
        options = {} if args.max_p99_ratio is None and not args.no_latency_guard else {
            "max_p99_ratio": None if args.no_latency_guard else args.max_p99_ratio}
        rollout = client.rollout(args.model, args.candidate, percent=args.percent, shadow=args.shadow,
                                 min_rows=args.min_rows, min_agreement=args.min_agreement,
                                 auto_promote_after=args.auto_promote_after, tolerance=args.tolerance, **options)
    elif args.promote:
        rollout = client.promote_rollout(args.model)
    elif args.end:
        rollout = client.end_rollout(args.model)
    else:
        rollout = client.rollout(args.model)
    print(json.dumps(rollout.to_json()) if args.json else rollout_text(rollout))


def add_parsers(command) -> None:
    """The rollout command on the parser: ``command(name, help)`` makes a subcommand's parser."""
    s = command("rollout", "start, follow, promote or end a rollout of a new version (changes need the token)")
    s.add_argument("model", help="the model's name")
    act = s.add_mutually_exclusive_group()
    act.add_argument("--candidate", type=positive_whole, metavar="VERSION",
                     help="start a rollout of this version against the one served now")
    act.add_argument("--status", action="store_true", help="the rollout and its figures (the default)")
    act.add_argument("--promote", action="store_true", help="move the default label to the candidate; ends it")
    act.add_argument("--end", action="store_true", help="end it; the stable stays served")
    mode = s.add_mutually_exclusive_group()
    mode.add_argument("--percent", type=share, help="a split: the candidate's share of unpinned requests (default 10)")
    mode.add_argument("--shadow", action="store_true",
                      help="a shadow: the stable answers every request; the candidate runs on the same rows, unseen")
    s.add_argument("--min-rows", type=positive_whole, help="compared rows before any guard acts (default 200)")
    s.add_argument("--min-agreement", type=fraction, help="roll back below this agreement (default 0.9)")
    latency = s.add_mutually_exclusive_group()
    latency.add_argument("--max-p99-ratio", type=ratio,
                         help="roll back when the candidate's p99 exceeds this many times the stable's (default 3)")
    latency.add_argument("--no-latency-guard", action="store_true", help="no latency guard")
    s.add_argument("--auto-promote-after", type=positive_whole, metavar="ROWS",
                   help="promote by itself once this many rows were compared with every guard holding")
    s.add_argument("--tolerance", type=non_negative,
                   help="regressors: the largest difference of a value that still agrees (default: the stable's "
                        "held-out RMSE)")
    s.add_argument("--json", action="store_true", help="print it as JSON")


COMMANDS = {"rollout": cmd_rollout}
