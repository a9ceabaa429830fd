"""A stored version as an ONNX file, and as an entry of a Triton model repository.

``python -m trainer export <name> [--version V] --format onnx -o FILE [--triton DIR]``.
The graph is ``mlp.onnx_export.to_onnx``'s (raw rows in, plain tensors out); the Triton entry
is that file at ``DIR/<name>/<version>/model.onnx`` beside ``DIR/<name>/config.pbtxt`` and
``DIR/<name>/labels.txt``, which Triton's ONNX Runtime backend loads as they are.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from core import settings
from core.records import ModelVersion
from core.store import ModelStore
from mlp.onnx_export import INPUT, LABEL, OPSET, PROBABILITIES, VALUE, ExportError, to_onnx

FORMATS = ("onnx",)
LABELS_FILE = "labels.txt"
# Triton refuses a request with more rows than max_batch_size; the service's own row limit
# is a size both answer, so a client that works with one works with the other.
MAX_BATCH_SIZE = settings.default("TINYMLP_MAX_ROWS")


def onnx_of(model: ModelVersion) -> bytes:
    """The version as a serialized ONNX model, named in its metadata as it is in the store."""
    info = model.info
    return to_onnx(model.network, metadata={"name": info.name, "version": info.version, "task": info.task})


def triton_config(model: ModelVersion) -> str:
    """``config.pbtxt`` for the version (protobuf text of Triton's ModelConfig).

    - ``platform: "onnxruntime_onnx"``: Triton's ONNX Runtime backend.
    - ``max_batch_size`` > 0 with the batch left out of every ``dims``: the graph's first
      dimension is the free ``N``, which Triton then fills with the batch (and may batch
      requests together). So ``input`` is ``dims: [n_features]`` and ``probabilities`` /
      ``value`` are ``[n_classes]`` / ``[n_outputs]``.
    - ``label`` is ``[N]`` in the graph: only the batch. Triton's way to say so is
      ``dims: [1]`` with ``reshape: {shape: []}`` (its model configuration guide, "Reshape").
    - ``label_filename`` on ``probabilities``: Triton's classification extension reads the
      class names from it, one a line in column order, and answers "score:index:label".
    - ``version_policy`` names this version alone: the file describes this version's shapes
      and labels, so Triton serves the version the file was written for, never an older
      export left in the same folder.
    """
    info = model.info
    output = info.output
    lines = [
        f"# tinymlp model {info.name} version {info.version}, ONNX opset {OPSET}, written by python -m trainer export",
        f'name: "{info.name}"',
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {MAX_BATCH_SIZE}",
        f"version_policy: {{ specific: {{ versions: [ {info.version} ] }} }}",
        "input [",
        f'  {{ name: "{INPUT}" data_type: TYPE_FP32 dims: [ {info.input.n_features} ] }}',
        "]",
        "output [",
    ]
    if output.is_classifier:
        lines += [
            f'  {{ name: "{PROBABILITIES}" data_type: TYPE_FP32 dims: [ {output.n_outputs} ] '
            f'label_filename: "{LABELS_FILE}" }},',
            f'  {{ name: "{LABEL}" data_type: TYPE_INT64 dims: [ 1 ] reshape: {{ shape: [ ] }} }}',
        ]
    else:
        lines.append(f'  {{ name: "{VALUE}" data_type: TYPE_FP32 dims: [ {output.n_outputs} ] }}')
    lines.append("]")
    return "\n".join(lines) + "\n"


def write_triton(root, model: ModelVersion, onnx: bytes) -> list[Path]:
    """Write the version's entry into the Triton model repository at ``root``; the paths written."""
    info = model.info
    labels = info.output.labels or ()
    bad = [label for label in labels if "\n" in label or "\r" in label]
    if bad:
        raise ExportError(f"label {bad[0]!r} holds a line break, which Triton's one-label-a-line file cannot hold")
    folder = Path(root) / info.name
    written = [_write(folder / str(info.version) / "model.onnx", onnx)]
    if labels:
        written.append(_write(folder / LABELS_FILE, "".join(f"{label}\n" for label in labels).encode()))
    # The config last: a Triton polling the repository sees the files it names already there.
    written.append(_write(folder / "config.pbtxt", triton_config(model).encode()))
    return written


def export(store: ModelStore, name: str, version: int | None = None, *, out=None, triton=None,
           fmt: str = "onnx") -> tuple[ModelVersion, list[Path]]:
    """Export a version (default: the served one) to ``out`` and/or a Triton repository."""
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not one this exports: {', '.join(FORMATS)}")
    if out is None and triton is None:
        raise ExportError("say where to write: -o FILE, --triton DIR, or both")
    model = store.open(name, version)
    data = onnx_of(model)
    written = [_write(Path(out), data)] if out is not None else []
    if triton is not None:
        written += write_triton(triton, model, data)
    return model, written


def _write(path: Path, data: bytes) -> Path:
    """Whole or not at all: a temporary file beside it, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
