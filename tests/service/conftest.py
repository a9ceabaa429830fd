"""Fixtures for the service: a small store of quickly trained models, and an app on it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from service import create_app
from service.config import Config
from trainer import pipeline
from trainer.store import ModelStore
from trainer.tasks import TASKS


def build_store(root) -> ModelStore:
    """Every task, trained briefly: the service tests need models, not good ones."""
    store = ModelStore(root)
    for task in TASKS.values():
        cfg = task.train.replace(epochs=1)
        data = None
        if task.name != "iris":
            data = task.sample(np.random.default_rng(0), 2000)
        net_cfg = task.network
        pipeline.train_task(task, store, config=cfg, network_config=net_cfg, data=data)
    return store


@pytest.fixture(scope="session")
def seeded_store_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeded") / "models"
    build_store(root)
    return root


@pytest.fixture
def store_dir(seeded_store_dir, tmp_path):
    """A private copy of the seeded store, free to change."""
    root = tmp_path / "models"
    shutil.copytree(seeded_store_dir, root)
    return root


@pytest.fixture
def app(store_dir):
    cfg = Config(models_dir=str(store_dir), state_dir=str(store_dir.parent / "state"),
                 start_reloader=False, log_level="WARNING", max_rows=1000, max_body_bytes=64 * 1024)
    return create_app(cfg)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(store_dir):
    return ModelStore(store_dir)
