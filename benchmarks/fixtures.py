"""What the serving benchmarks share: a model store holding a freshly trained red model, and
a check that the Debian programs they drive are installed."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from trainer import pipeline
from trainer.store import ModelStore
from trainer.tasks import get_task


def red_store(folder) -> ModelStore:
    """A model store in ``folder`` with red version 1, trained as `make train` trains it."""
    store = ModelStore(Path(folder))
    pipeline.train_task(get_task("red"), store)
    return store


def require(*programs: str) -> None:
    """Exit saying how to install them if any of Debian's ``programs`` (wrk, nginx) is missing."""
    missing = [p for p in programs if not (shutil.which(p) or Path("/usr/sbin", p).exists())]
    if missing:
        sys.exit(f"needs {' and '.join(missing)}: apt-get install {' '.join(missing)}")
