"""What a model's version count costs a serving worker: RSS and start time with 10, 500 and
5,000 versions of red, side by side, under the version policy (the served, the labelled and
the newest TINYMLP_KEEP_LOADED versions loaded; others on demand), and, for contrast, with
every version loaded (the policy switched off by a TINYMLP_KEEP_LOADED past the count).

Start time: from starting gunicorn (docker/gunicorn.conf.py, 2 workers) until /readyz
answers 200. RSS: the larger of the two workers', from /proc, once ready.

    python -m benchmarks.versions [--counts 10,500,5000] [--no-contrast]
Target: with 5,000 versions, RSS and start time within 1.5x of 10 versions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from harness.processes import Gunicorn
from harness.stores import red_store


def fill(root: Path, source: dict, n: int) -> None:
    """Versions 1..n of red: the same network under n numbers (a version's file names itself)."""
    folder = root / "red"
    folder.mkdir(parents=True)
    for v in range(1, n + 1):
        (folder / f"{v}.json").write_text(json.dumps({**source, "version": v}, separators=(",", ":")))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(models: Path, keep_loaded: int, scratch: Path) -> tuple[float, float]:
    """(seconds to ready, largest worker RSS in MiB)."""
    t = time.perf_counter()
    with Gunicorn(models, workers=2, log_path=scratch / f"gunicorn-{keep_loaded}.log",
                  env={"TINYMLP_KEEP_LOADED": str(keep_loaded), "TINYMLP_STATE_DIR": str(scratch / "state")},
                  ready_timeout=600) as server:
        ready = time.perf_counter() - t
        time.sleep(1.0)  # the other worker finishes loading too
        pids = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True).stdout.split()
        rss = max(rss_mib(int(p)) for p in pids)
    return ready, rss


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counts", default="10,500,5000")
    ap.add_argument("--no-contrast", action="store_true", help="skip the every-version-loaded runs")
    args = ap.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    with tempfile.TemporaryDirectory(prefix="tinymlp-versions-") as tmp:
        tmp = Path(tmp)
        store = red_store(tmp / "source")
        source = json.loads((store.root / "red" / "1.json").read_text())
        results = {}
        for n in counts:
            models = tmp / f"models-{n}"
            fill(models, source, n)
            results[n, "policy"] = measure(models, 3, tmp)
            if not args.no_contrast:
                results[n, "all"] = measure(models, n + 1, tmp)
    base = results[counts[0], "policy"]
    print("versions of red   start (policy)   worker RSS (policy)   vs the first   |  every version loaded: "
          "start, RSS")
    for n in counts:
        ready, rss = results[n, "policy"]
        line = (f"{n:>15,}   {ready:11.2f} s   {rss:14.1f} MiB   "
                f"start x{ready / base[0]:.2f}, RSS x{rss / base[1]:.2f}")
        if (n, "all") in results:
            ready_all, rss_all = results[n, "all"]
            line += f"   |  {ready_all:.2f} s, {rss_all:.1f} MiB"
        print(line)
    last = results[counts[-1], "policy"]
    print(f"target: {counts[-1]:,} versions within 1.5x of {counts[0]}: start x{last[0] / base[0]:.2f}, "
          f"RSS x{last[1] / base[1]:.2f}")


if __name__ == "__main__":
    main()
