"""``python -m trainer``: generate data, train, continue, evaluate, list, label, prune, import, serve jobs.

Every failure a user can cause (unknown task, bad hyperparameter, unreadable
or malformed file) ends in one line on stderr and exit status 1; usage errors
exit 2 (argparse). Nothing is written to the store unless a run completes.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

import mlp
from trainer import pipeline, settings
from trainer.jobs import JobError
from trainer.store import ModelStore, StoreError
from trainer.tasks import TASKS, UnknownTask, get_task


class CLIError(Exception):
    """A user-caused failure: printed as one line, exit status 1."""


def _whole(least: int):
    """An argparse type: a whole number of at least ``least``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"expected a number >= {least}, got {value}")
        return value

    return parse


_natural, _positive_int = _whole(0), _whole(1)


def _add_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=_positive_int, help="epochs to train")
    p.add_argument("--learning-rate", type=float, help="base learning rate")
    p.add_argument("--batch-size", type=_positive_int, help="rows per mini-batch")
    p.add_argument("--seed", type=int, help="seed for data, initial weights and shuffling")
    p.add_argument("--samples", type=_positive_int, help="training rows to draw from the task")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trainer",
        description="Train tinymlp models and publish them to the model store.",
    )
    parser.add_argument("--models-dir", default=None,
                        help="the model store (default: $TINYMLP_MODELS_DIR, else ./models)")
    parser.add_argument("--data-dir", default=None,
                        help="generated datasets (default: $TINYMLP_DATA_DIR, else ./data)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("generate", help="write a task's dataset as JSON into the data folder")
    p.add_argument("task", help=f"one of: {', '.join(TASKS)}")
    p.add_argument("--samples", type=_positive_int, help="rows to draw")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output file (default: <data-dir>/<task>.json)")

    p = sub.add_parser("train", help="train a fresh model of a task and publish a new version")
    p.add_argument("task", help=f"one of: {', '.join(TASKS)}")
    p.add_argument("--name", help="model name (default: the task's name)")
    p.add_argument("--data", help="a dataset file written by `generate` (default: draw fresh data)")
    _add_train_options(p)

    p = sub.add_parser("continue", help="train a version further and publish it as a new version")
    p.add_argument("name")
    p.add_argument("--from", dest="from_version", type=_positive_int,
                   help="version to start from (default: the served one)")
    _add_train_options(p)

    p = sub.add_parser("evaluate", help="accuracy, confusion matrix and per-class metrics")
    p.add_argument("name")
    p.add_argument("--version", type=_positive_int, help="default: the served version")
    p.add_argument("--seed", type=int, default=12_345, help="seed of the fresh evaluation data")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser("list", help="the models in the store, their versions and labels")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("label", help="point a label (e.g. default) at a version")
    p.add_argument("name")
    p.add_argument("label")
    p.add_argument("version", type=_positive_int)

    p = sub.add_parser("import-legacy", help="import a model file of the original project")
    p.add_argument("file")
    p.add_argument("--name", required=True, help="model name to publish under")
    p.add_argument("--task", required=True, help=f"the task it solves: {', '.join(TASKS)}")

    p = sub.add_parser("prune", help="remove old versions: all but the newest few, the served, the labelled "
                                     "and their parents")
    p.add_argument("name")
    p.add_argument("--keep", type=_natural, default=3, help="the newest versions to keep (default 3)")
    p.add_argument("--drop-parents", action="store_true",
                   help="also remove the parents of kept versions (kept by default, for lineage)")
    p.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")

    p = sub.add_parser("all", help="train every task that has no model yet")
    p.add_argument("--force", action="store_true", help="retrain every task")

    p = sub.add_parser("plot", help="write a version's training curve and decision regions as PNG files")
    p.add_argument("name", help="the model")
    p.add_argument("--version", type=_positive_int, help="default: the served version")
    p.add_argument("--out", default=".", help="the folder to write into (default: here)")

    p = sub.add_parser("worker", help="run the training jobs the service queues (until SIGTERM)")
    p.add_argument("--state-dir", default=None,
                   help="the job table's folder (default: $TINYMLP_STATE_DIR, else ./state)")
    p.add_argument("--once", action="store_true", help="stop when the queue is empty")
    return parser


# -- commands -----------------------------------------------------------------------------


def _config(task, args, base: mlp.TrainConfig | None = None) -> mlp.TrainConfig:
    changes = {k: v for k, v in (("epochs", args.epochs), ("learning_rate", args.learning_rate),
                                 ("batch_size", args.batch_size), ("seed", args.seed))
               if v is not None}
    return (base or task.train).replace(**changes)


class _Progress:
    """A tqdm bar over epochs with loss and metric; silent in quiet mode."""

    def __init__(self, label: str, epochs: int, quiet: bool):
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=epochs, desc=label, unit="epoch", file=sys.stderr, leave=True)

    def __call__(self, record: dict) -> None:
        if self.bar is not None:
            post = {"loss": f"{record['loss']:.4g}", "metric": f"{record['metric']:.4f}"}
            if "val_loss" in record:
                post["val_loss"] = f"{record['val_loss']:.4g}"
            self.bar.set_postfix(post, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _report_line(result: pipeline.RunResult) -> str:
    h = result.metrics["headline"]
    value = h["value"]
    flag = "" if h.get("met", True) else f" (below the bar {h['bar']})"
    return (f"published {result.published.name} version {result.published.version}: "
            f"{h['metric']} on {h['eval_set']} = {value:.4f}{flag}")


def cmd_generate(args, store) -> None:
    task = get_task(args.task)
    if not hasattr(task, "sample"):
        raise CLIError(f"task {task.name} cannot generate data")
    n = args.samples or task.train_samples
    X, y = task.sample(np.random.default_rng(args.seed), n)
    out = Path(args.out) if args.out else Path(args.data_dir) / f"{task.name}.json"
    doc = {"task": task.name, "features": list(task.features),
           "labels": list(task.labels) if task.labels else None, "seed": args.seed,
           "X": np.asarray(X).tolist(), "y": np.asarray(y).tolist()}
    _atomic_write(out, json.dumps(doc, separators=(",", ":")))
    print(f"wrote {len(X)} rows of {task.name} to {out}")


def read_dataset(path: str, task) -> tuple[np.ndarray, np.ndarray]:
    """A dataset written by ``generate``, checked against the task."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise CLIError(f"cannot read dataset {path}: {e.strerror}") from None
    except ValueError as e:
        raise CLIError(f"dataset {path} is not valid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("task") != task.name or "X" not in doc or "y" not in doc:
        raise CLIError(f"dataset {path} is not a {task.name} dataset written by `generate`")
    try:
        X = np.asarray(doc["X"], dtype=np.float64)
    except (TypeError, ValueError):
        raise CLIError(f"dataset {path}: X must be rows of numbers") from None
    y = np.asarray(doc["y"], dtype=object if task.is_classifier else np.float64)
    if X.ndim != 2 or X.shape[1] != len(task.features) or len(y) != len(X) or len(X) == 0:
        raise CLIError(f"dataset {path}: X must be rows of {len(task.features)} numbers, one y per row")
    if task.is_classifier and not set(y.tolist()) <= set(task.labels):
        raise CLIError(f"dataset {path}: labels must be among {list(task.labels)}")
    return X, y


def cmd_train(args, store) -> None:
    task = get_task(args.task)
    cfg = _config(task, args)
    data = read_dataset(args.data, task) if args.data else None
    if data is None and args.samples:
        data = task.sample(np.random.default_rng(cfg.seed), args.samples)
    progress = _Progress(args.name or task.name, cfg.epochs, args.quiet)
    try:
        result = pipeline.train_task(task, store, name=args.name, config=cfg, data=data,
                                     callback=progress)
    finally:
        progress.close()
    print(_report_line(result))


def cmd_continue(args, store) -> None:
    base = store.open(args.name, args.from_version)
    task = get_task(base.info.task or "")
    cfg = _config(task, args, pipeline.continue_config(base, task))
    progress = _Progress(f"{args.name}", cfg.epochs, args.quiet)
    try:
        result = pipeline.continue_training(store, args.name, from_version=base.version,
                                            config=cfg, samples=args.samples, callback=progress)
    finally:
        progress.close()
    print(_report_line(result) + f" (parent version {base.version})")


def cmd_evaluate(args, store) -> None:
    model = store.open(args.name, args.version)
    task = get_task(model.info.task or "")
    report = pipeline.judge(model.network, task, args.seed - pipeline.EVAL_SEED_OFFSET)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.name} version {model.version} (task {task.name}), fresh data seed {args.seed}")
    for set_name, rep in report.items():
        if set_name == "headline":
            continue
        print(f"\n[{set_name}] n={rep['n']}")
        if "rmse" in rep:
            print(f"  RMSE {rep['rmse']:.3f}   MAE {rep['mae']:.3f}   R^2 {rep['r2']:.4f}")
            continue
        ece = f"   calibration error (ECE, 15 bins) {rep['ece'] * 100:.3f}%" if "ece" in rep else ""
        print(f"  accuracy {rep['accuracy'] * 100:.3f}%{ece}")
        print(_confusion_text(task.labels, rep["confusion_matrix"]))
        print(f"  {'class':<12} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}")
        for lab, m in rep["per_class"].items():
            print(f"  {lab:<12} {m['precision']:9.4f} {m['recall']:9.4f} {m['f1']:9.4f} {m['support']:8d}")
    h = report["headline"]
    if h["value"] is not None:
        print(f"\njudged by {h['metric']} on {h['eval_set']}: {h['value']:.4f} (bar {h['bar']})")


def _confusion_text(labels, cm) -> str:
    width = max(8, *(len(x) + 1 for x in labels))
    head = "  " + "true \\ pred".ljust(width + 2) + "".join(x.rjust(width) for x in labels)
    rows = ["  " + lab.ljust(width + 2) + "".join(str(v).rjust(width) for v in row)
            for lab, row in zip(labels, cm)]
    return "\n".join([head, *rows])


def cmd_list(args, store) -> None:
    rows = []
    for name in store.names():
        versions = store.versions(name)
        try:
            served = store.resolve(name)
        except StoreError:
            served = None
        rows.append({"name": name, "versions": versions, "labels": store.labels(name), "served": served})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        print(f"no models in {store.root}; train them with `python -m trainer all`")
        return
    for r in rows:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(r["labels"].items())) or "-"
        metric = ""
        if r["served"] is not None:
            h = store.open(r["name"], r["served"]).info.headline
            if h is not None and h.value is not None:
                metric = f"  {h.metric}={h.value:.4f}"
        print(f"{r['name']:<14} served v{r['served']}  versions {r['versions']}  labels {labels}{metric}")


def cmd_label(args, store) -> None:
    store.open(args.name, args.version)  # only a version that loads can be labelled
    store.set_label(args.name, args.label, args.version)
    print(f"{args.name}: label {args.label} -> version {args.version}")


def cmd_prune(args, store) -> None:
    report = store.prune(args.name, args.keep, keep_parents=not args.drop_parents, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    if report.removed:
        print(f"{args.name}: {verb} {len(report.removed)} version(s): {_ranges(report.removed)}")
    else:
        print(f"{args.name}: nothing to remove")
    for v, why in report.kept.items():
        print(f"  kept version {v}: {why}")


def _ranges(versions: list[int]) -> str:
    """[1, 2, 3, 7, 9, 10] -> '1-3, 7, 9-10': thousands of versions in one line."""
    out, start = [], None
    for i, v in enumerate(versions):
        if start is None:
            start = v
        if i + 1 == len(versions) or versions[i + 1] != v + 1:
            out.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ", ".join(out)


def cmd_import_legacy(args, store) -> None:
    task = get_task(args.task)
    normalizer = None
    if task.legacy_input_range is not None:
        normalizer = mlp.Normalizer.min_max(*task.legacy_input_range)
    net = mlp.load_legacy(args.file, labels=list(task.labels) if task.labels else None,
                          input_spec=task.input_spec, normalizer=normalizer)
    raw = Path(args.file).read_bytes()
    metrics = pipeline.judge(net, task, 0)
    published = store.publish(
        args.name, net, parent=None, created_at=pipeline.now(), task=task.name,
        training={"trained_by": "imported", "source": Path(args.file).name,
                  "source_sha256": hashlib.sha256(raw).hexdigest()},
        metrics=metrics,
    )
    h = metrics["headline"]
    print(f"imported {args.file} as {published.name} version {published.version}: "
          f"{h['metric']} on {h['eval_set']} = {h['value']}")


def cmd_all(args, store) -> None:
    for task in TASKS.values():
        if store.versions(task.name) and not args.force:
            print(f"{task.name}: has version(s) {store.versions(task.name)}, skipped (--force retrains)")
            continue
        progress = _Progress(task.name, task.train.epochs, args.quiet)
        try:
            result = pipeline.train_task(task, store, callback=progress)
        finally:
            progress.close()
        print(_report_line(result))


def cmd_plot(args, store) -> None:
    from trainer import plots

    model = store.open(args.name, args.version)
    net, version = model.network, model.version
    task = get_task(model.info.task or "")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        pictures = {f"{args.name}-v{version}-curve.png": lambda: plots.curve_png(net)}
        for fixed in plots.default_planes(task):
            at = "".join(f"-{k}{v:g}" for k, v in fixed.items())
            pictures[f"{args.name}-v{version}-regions{at}.png"] = lambda f=fixed: plots.regions_png(net, task, f)
        for filename, draw in pictures.items():
            (out / filename).write_bytes(draw())
            print(out / filename)
    except plots.PlotsUnavailable as e:
        raise CLIError(str(e)) from None


def cmd_worker(args, store) -> None:
    import logging

    from trainer import worker

    if not logging.getLogger().handlers:
        logging.basicConfig(level=settings.read("TINYMLP_LOG_LEVEL"),
                            format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stdout)
    config = worker.WorkerConfig.from_env()
    config = dataclasses.replace(config, models_dir=args.models_dir,
                                 state_dir=args.state_dir or config.state_dir)
    worker.main(config, once=args.once)


COMMANDS = {
    "generate": cmd_generate, "train": cmd_train, "continue": cmd_continue,
    "evaluate": cmd_evaluate, "list": cmd_list, "label": cmd_label,
    "import-legacy": cmd_import_legacy, "all": cmd_all, "plot": cmd_plot,
    "prune": cmd_prune, "worker": cmd_worker,
}


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.models_dir = args.models_dir or settings.read("TINYMLP_MODELS_DIR")
        args.data_dir = args.data_dir or settings.read("TINYMLP_DATA_DIR")
        store = ModelStore(args.models_dir, max_model_bytes=settings.read("TINYMLP_MAX_MODEL_BYTES"))
        COMMANDS[args.command](args, store)
    except (CLIError, StoreError, UnknownTask, mlp.MLPError, settings.SettingError, JobError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing was published", file=sys.stderr)
        return 130
    return 0
