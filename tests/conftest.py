"""Shared fixtures: a temporary model store and the original project's seed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.store import ModelStore

SEED_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "seed"


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return ModelStore(tmp_path / "models")


@pytest.fixture
def seed_dir() -> Path:
    if not SEED_DIR.is_dir():
        pytest.skip(f"the original project's seed files are not at {SEED_DIR} (../shared/seed)")
    return SEED_DIR
