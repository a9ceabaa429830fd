"""Fixtures for the service: a small store of quickly trained models, and an app on it."""

from __future__ import annotations

import shutil

import pytest

from core.store import ModelStore
from service import create_app, extensions
from service.config import Config


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
    app = create_app(cfg)
    yield app
    extensions.close(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(store_dir):
    return ModelStore(store_dir)
