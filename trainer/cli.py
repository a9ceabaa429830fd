"""``python -m trainer``: generate data, train, continue, evaluate, list, label, prune, import, export, plot,
serve jobs, roll out a version (``trainer.rollout_cli``).

Every failure a user can cause (unknown task, bad hyperparameter, unreadable
or malformed file) ends in one line on stderr and exit status 1; usage errors
exit 2 (argparse). Nothing is written to the store unless a run completes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

import mlp
from core import logs, settings
from core.jobs import JobError
from core.store import ModelStore, StoreError
from trainer import pictures, pipeline, rollout_cli, threads
from trainer.sklearn_import import SklearnImportError, import_sklearn
from trainer.tasks import TASKS, UnknownTask, get_task, task_of

# The settings this command line reads (TINYMLP_MODELS_DIR -> models_dir...), from their declaration.
TrainerConfig = settings.config_class("trainer")


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

    p = sub.add_parser("import-sklearn", help="import a fitted scikit-learn MLP from a skops file as a new version")
    p.add_argument("file", help='a skops file: skops.io.dump(estimator, "model.skops")')
    p.add_argument("--name", required=True, help="model name to publish under")
    p.add_argument("--features", help="feature names, comma-separated (default: the estimator's, else x0,x1,...)")
    p.add_argument("--low", help="lower input bounds: one number, or one per feature, comma-separated "
                                 "(default: a MinMaxScaler's data range, else none); negative: --low=-1,-2.5")
    p.add_argument("--high", help="upper input bounds, likewise")

    p = sub.add_parser("export", help="write a version as ONNX (and as a Triton model-repository entry)")
    p.add_argument("name")
    p.add_argument("--version", type=_positive_int, help="default: the served version")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="onnx (the only one)")
    p.add_argument("-o", "--out", help="the file to write")
    p.add_argument("--triton", metavar="DIR", help="also write DIR/<name>/<version>/model.onnx and "
                                                   "DIR/<name>/config.pbtxt")

    p = sub.add_parser("prune", help="remove old versions: all but the newest few, the served, the labelled "
                                     "and their parents")
    p.add_argument("name")
    p.add_argument("--keep", type=_natural, default=3, help="the newest versions to keep (default 3)")
    p.add_argument("--drop-parents", action="store_true",
                   help="also remove the parents of kept versions (kept by default, for lineage)")
    p.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")

    p = sub.add_parser("all", help="train every task that has no model yet")
    p.add_argument("--force", action="store_true", help="retrain every task")

    p = sub.add_parser("plot", help="draw a version's pictures into the store (the dashboard's), or its "
                                    "figures into a folder (--out)")
    p.add_argument("name", nargs="?", help="the model (with --all: every model if not given)")
    p.add_argument("--version", type=_positive_int, help="default: the served version")
    p.add_argument("--all", action="store_true",
                   help="every version lacking pictures, or with one not drawn (matplotlib was missing, say)")
    p.add_argument("--out", help="write the full matplotlib figures (axes, legend) into this folder instead")

    rollout_cli.add_parser(sub)

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
    task = task_of(base.info)
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
    task = task_of(model.info)
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
    pictures.after_publish(store, published, "batch trainer")  # never fails the import
    h = metrics["headline"]
    print(f"imported {args.file} as {published.name} version {published.version}: "
          f"{h['metric']} on {h['eval_set']} = {h['value']}")


def cmd_import_sklearn(args, store) -> None:
    published = import_sklearn(store, args.file, name=args.name, features=_names(args.features),
                               low=_numbers(args.low, "--low"), high=_numbers(args.high, "--high"))
    print(f"imported {args.file} ({published.info.training.estimator}) as {published.name} "
          f"version {published.version}")


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [f.strip() for f in text.split(",")]


def _numbers(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise CLIError(f"{option} takes numbers separated by commas (one, or one per feature), got {text!r}") from None


def cmd_export(args, store) -> None:
    from trainer.export import export

    model, written = export(store, args.name, args.version, out=args.out, triton=args.triton, fmt=args.format)
    for path in written:
        print(f"{model.name} version {model.version}: wrote {path}")


def cmd_all(args, store) -> None:
    for task in TASKS.values():
        if store.versions(task.name) and not args.force:
            print(f"{task.name}: has version(s) {store.versions(task.name)}, skipped (--force retrains)")
            # a store from before pictures were drawn at publish time gets them here, a few at a time
            done = pictures.backfill(store, task.name, "batch trainer")
            drawn = [v for v, result in done.items() if not isinstance(result, str)]
            if drawn:
                print(f"{task.name}: drew the pictures of version(s) {drawn}")
            continue
        progress = _Progress(task.name, task.train.epochs, args.quiet)
        try:
            result = pipeline.train_task(task, store, callback=progress)
        finally:
            progress.close()
        print(_report_line(result))


def cmd_plot(args, store) -> None:
    if args.out is not None:
        if args.all:
            raise CLIError("--out writes one version's figures; leave out --all (or --out)")
        return _plot_figures(args, store)
    if args.all:
        if args.version is not None:
            raise CLIError("--all draws every version lacking pictures; leave out --version (or --all)")
        if args.name and not store.versions(args.name):
            store.open(args.name)  # no such model: says so, naming the models there are
        names = [args.name] if args.name else store.names()
        failed = []
        for name in names:
            done = pictures.backfill(store, name, "python -m trainer plot", limit=None, incomplete=True)
            for v, result in sorted(done.items()):
                failed += _report_drawn(name, v, result)
            if not done:
                print(f"{name}: every version has its pictures")
        if failed:
            raise CLIError(f"some pictures were not drawn: {'; '.join(failed)[:500]}")
        return None
    if not args.name:
        raise CLIError("name the model whose pictures to draw (or give --all for every model)")
    model = store.open(args.name, args.version)
    if model.info.task is None and not (model.info.training and model.info.training.curve):
        task_of(model.info)  # an import with no curve: nothing to draw, and UnknownTask says why
    result = pictures.draw(store, model, "python -m trainer plot")
    failed = _report_drawn(args.name, model.version, result)
    if failed:
        raise CLIError(f"some pictures were not drawn: {'; '.join(failed)[:500]}")
    return None


def _report_drawn(name: str, version: int, result) -> list[str]:
    """Print what was drawn for a version; what was not, as lines for the error."""
    if isinstance(result, str):
        return [f"{name} version {version}: {result}"]
    maps = sum(p.regions is not None for p in result.pictures)
    what = [*(["the training curve"] if result.picture("curve") else []),
            *([f"{maps} decision-region map{'s' if maps > 1 else ''}"] if maps else [])]
    print(f"{name} version {version}: drew {' and '.join(what) or 'nothing'} into the store "
          f"({name}/{version}.<kind>.png)")
    return [f"{name} version {version}, {m.kind}: {m.reason}" for m in result.missing]


def _plot_figures(args, store) -> None:
    """The full matplotlib figures of a version, as files in a folder."""
    from trainer import plots

    if not args.name:
        raise CLIError("name the model whose figures to write")
    model = store.open(args.name, args.version)
    net, version = model.network, model.version
    task = task_of(model.info)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures = {}
    if (net.metadata.get("training") or {}).get("curve"):
        figures[f"{args.name}-v{version}-curve.png"] = lambda: plots.curve_png(net)
    for kind, fixed in pictures.offered(task):
        figures[f"{args.name}-v{version}-{kind}.png"] = lambda f=fixed: plots.regions_png(net, task, f)
    try:
        for filename, draw in figures.items():
            (out / filename).write_bytes(draw())
            print(out / filename)
    except plots.PlotsUnavailable as e:
        raise CLIError(str(e)) from None
    if not figures:
        print(f"{args.name} version {version} has nothing to draw (no training record, no decision regions)")


def cmd_worker(args, store) -> None:
    from trainer import worker

    config = worker.WorkerConfig.from_env()
    for why in config.unusable.values():  # serving goes on without a job table; a worker cannot
        raise CLIError(why)
    logs.setup(config.log_format, config.log_level)
    config = config.replace(models_dir=args.models_dir, state_dir=args.state_dir or config.state_dir)
    worker.main(config, once=args.once)


def cmd_rollout(args, store) -> None:
    try:
        rollout_cli.run(args, store, TrainerConfig.from_env())
    except rollout_cli.RolloutCLIError as e:
        raise CLIError(str(e)) from None


COMMANDS = {
    "generate": cmd_generate, "train": cmd_train, "continue": cmd_continue,
    "evaluate": cmd_evaluate, "list": cmd_list, "label": cmd_label,
    "import-legacy": cmd_import_legacy, "all": cmd_all, "plot": cmd_plot,
    "prune": cmd_prune, "worker": cmd_worker, "import-sklearn": cmd_import_sklearn, "export": cmd_export,
    "rollout": cmd_rollout,
}


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    threads.one_blas_thread()
    try:
        config = TrainerConfig.from_env()
        args.models_dir = args.models_dir or config.models_dir
        args.data_dir = args.data_dir or config.data_dir
        store = ModelStore(args.models_dir, max_model_bytes=config.max_model_bytes)
        COMMANDS[args.command](args, store)
    except (CLIError, StoreError, UnknownTask, mlp.MLPError, settings.SettingError, JobError, SklearnImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing was published", file=sys.stderr)
        return 130
    return 0
