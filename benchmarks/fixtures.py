"""What the serving benchmarks share: a model store holding a freshly trained red model."""

from __future__ import annotations

from pathlib import Path

from trainer import pipeline
from trainer.store import ModelStore
from trainer.tasks import get_task


def red_store(folder) -> ModelStore:
    """A model store in ``folder`` with red version 1, trained as `make train` trains it."""
    store = ModelStore(Path(folder))
    pipeline.train_task(get_task("red"), store)
    return store
