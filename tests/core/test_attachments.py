"""A version's attachments in the store (its pictures and their record): named by one
pattern, written atomically beside an existing version only, read only as regular files."""

from __future__ import annotations

import os

import pytest

import mlp
from core.store import FileRefused, ModelStore, NotFound, StoreError


@pytest.fixture
def published(store: ModelStore) -> ModelStore:
    net = mlp.Network.build(mlp.NetworkConfig(hidden=(2,)), 2, 2, labels=["a", "b"], seed=0)
    store.publish("m", net)
    return store


@pytest.mark.parametrize("suffix", ["json", "png", "../1.png", "curve.PNG", "Curve.png", "curve.png.json",
                                    "-x.png", "curve.svg", "a" * 41 + ".png"])
def test_an_attachment_is_named_by_one_pattern(published, suffix):
    with pytest.raises(StoreError, match="invalid attachment"):
        published.attachment_path("m", 1, suffix)


def test_attachments_are_written_beside_their_version_atomically(published):
    path = published.write_attachment("m", 1, "curve.png", b"first")
    assert path == published.root / "m" / "1.curve.png" and oct(path.stat().st_mode & 0o777) == "0o644"
    published.write_attachment("m", 1, "curve.png", b"second")  # replaced whole
    f, st = published.open_attachment("m", 1, "curve.png")
    with f:
        assert f.read() == b"second" and st.st_size == 6
    assert sorted(os.listdir(published.root / "m")) == ["1.curve.png", "1.json"]  # no temporary file left
    assert published.attachments("m", 1) == ["curve.png"] and published.versions("m") == [1]
    with pytest.raises(NotFound, match="no version 2"):
        published.write_attachment("m", 2, "curve.png", b"x")


def test_only_regular_files_are_read(published, tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"secret")
    os.symlink(outside, published.root / "m" / "1.curve.png")
    os.mkfifo(published.root / "m" / "1.regions.png")
    (published.root / "m" / "1.pictures.json").mkdir()
    for suffix in ("curve.png", "regions.png", "pictures.json"):
        with pytest.raises(FileRefused):
            published.open_attachment("m", 1, suffix)
    with pytest.raises(NotFound):
        published.open_attachment("m", 1, "other.png")
