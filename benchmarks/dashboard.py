"""How long the web pages' pictures take to show on a first visit to a fresh service.

For each page, each round: a fresh gunicorn (docker/gunicorn.conf.py, 2 workers) on a store
holding red trained as `make train` trains it and quadrant, and a fresh Chromium profile
(Debian's chromium, driven by Playwright). The figure is the time from the start of the
navigation until every picture on the page has loaded, read in the page
(``performance.now()`` when the last one has decoded, polled each frame):

    /ui/models/red        the training curve and the region map at blue 64
    /ui/models/quadrant   the training curve and the region map
    /                     the first 2-D model's plane with its regions drawn in

Target (issue 18 §4): every picture within 1 s of a first visit. With ``--old COMMIT`` the
same pages of that commit (checked out in a temporary git worktree) are timed in the same
rounds, alternating, for a side-by-side figure (the dashboards only: before, / showed no
regions); before pictures were drawn at publish time (b4a0887, this change's base) a fresh
service drew them on demand, answering 429 meanwhile.

    python -m benchmarks.dashboard [--rounds 5] [--old b4a0887] [--timeout 30]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import tarfile
import tempfile
from contextlib import ExitStack
from pathlib import Path

from harness.processes import ROOT, Gunicorn
from harness.stores import red_store
from trainer import pipeline
from trainer.tasks import get_task

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run"]
# Every <img> decoded (at least `least` of them), or on / the plane's regions drawn in; then
# the time since the navigation started.
LOADED = {
    "img": """(least) => { const imgs = [...document.images];
        return imgs.length >= least && imgs.every((i) => i.complete && i.naturalWidth > 0) && performance.now(); }""",
    "plane": """() => { const c = document.getElementById("plane");
        return !!c && c.dataset.regions === "drawn" && performance.now(); }""",
}
PAGES = [("/ui/models/red", "img", 2), ("/ui/models/quadrant", "img", 2), ("/", "plane", None)]


def export(commit: str, dest: Path) -> Path:
    """The files of ``commit`` in ``dest`` (git archive: the repository is only read)."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(dest, filter="data")
    return dest


def first_visit(browser, base: str, path: str, kind: str, least, timeout_s: float) -> float | None:
    """Milliseconds from navigation until every picture of the page shows; None past the timeout."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context = browser.new_context(viewport={"width": 1100, "height": 900})  # a fresh profile: nothing cached
    try:
        page = context.new_page()
        page.goto(base + path, wait_until="commit")
        try:
            handle = page.wait_for_function(LOADED[kind], arg=least, polling="raf", timeout=timeout_s * 1000)
        except PlaywrightTimeout:
            return None
        return float(handle.json_value())
    finally:
        context.close()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--old", default=None, help="also time this commit's pages, side by side (e.g. b4a0887)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds a page may take before it counts as failed")
    args = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit("needs Debian's chromium: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="tinymlp-dashboard-") as tmp, ExitStack() as stack:
        tmp = Path(tmp)
        trees = {"new": ROOT}
        if args.old:
            trees["old"] = export(args.old, tmp / "old")
        store = red_store(tmp / "models")  # publishing draws the pictures (the new code)
        pipeline.train_task(get_task("quadrant"), store)
        p = stack.enter_context(sync_playwright())
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        stack.callback(browser.close)
        times = {(tag, path): [] for tag in trees for path, _, _ in PAGES}
        for r in range(args.rounds):
            for tag in trees if r % 2 == 0 else reversed(list(trees)):
                for path, kind, least in PAGES:
                    if tag == "old" and kind == "plane":
                        continue
                    # a fresh service for every first visit: nothing drawn or cached in it yet
                    with Gunicorn(store.root, workers=2, cwd=trees[tag], log_path=tmp / f"{tag}.log",
                                  env={"TINYMLP_STATE_DIR": str(tmp / f"state-{tag}")}) as server:
                        times[tag, path].append(first_visit(browser, server.base, path, kind, least, args.timeout))

    print(f"first visit on a fresh service (gunicorn 2 workers, fresh Chromium profile), {args.rounds} rounds: "
          "ms from navigation until every picture of the page shows; target <= 1000 ms")
    for path, _, _ in PAGES:
        line = f"  {path:22s}"
        for tag in trees:
            runs = times[tag, path]
            if not runs:
                line += f"  {tag}: (no regions on this page)"
                continue
            done = [t for t in runs if t is not None]
            failed = len(runs) - len(done)
            med = statistics.median(done) if done else float("nan")
            line += (f"  {tag}: median {med:7.0f} ms, max {max(done, default=float('nan')):7.0f} ms"
                     + (f", {failed} past {args.timeout:g} s" if failed else ""))
        if args.old and all(times[tag, path] and None not in times[tag, path] for tag in ("old", "new")):
            line += f"  new/old {statistics.median(times['new', path]) / statistics.median(times['old', path]):.3f}"
        print(line)


if __name__ == "__main__":
    main()
