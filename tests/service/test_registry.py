"""The registry: get() and its domain errors, the version policy, and what it does with a
broken model, a broken or missing default label, and files it must not read."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from core.store import ModelStore
from service.errors import LabelNotFound, ModelNotFound, NotServable, VersionNotFound
from service.registry import Registry


@pytest.fixture
def store(store_dir) -> ModelStore:
    return ModelStore(store_dir, max_model_bytes=1024 * 1024)


def _copies(store, name, n):
    """n more versions of a model (copies of version 1 under new numbers)."""
    net = store.load(name, 1)
    for _ in range(n):
        store.publish(name, net)


def _registry(store, **options) -> Registry:
    reg = Registry(store, **options)
    reg.refresh()
    return reg


def test_get_answers_the_served_a_pinned_and_a_labelled_version(store):
    _copies(store, "xor", 2)
    store.set_label("xor", "canary", 2)
    reg = _registry(store)
    assert reg.get("xor").version == 3
    assert reg.get("xor", version=1).version == 1
    assert reg.get("xor", label="canary").version == 2
    with pytest.raises(ModelNotFound, match="No model named 'nope'"):
        reg.get("nope")
    with pytest.raises(VersionNotFound, match="no version 9"):
        reg.get("xor", version=9)
    with pytest.raises(LabelNotFound, match="no label 'prod'"):
        reg.get("xor", label="prod")
    assert VersionNotFound.status == LabelNotFound.status == ModelNotFound.status == 404
    assert NotServable.status == 503


def test_the_version_policy_loads_served_labelled_and_newest_only(store):
    _copies(store, "xor", 19)  # versions 1..20
    store.set_label("xor", "canary", 5)
    store.set_label("xor", "default", 10)
    reg = _registry(store, keep_loaded=3)
    entry = reg.entry("xor")
    assert sorted(entry.loaded) == [5, 10, 18, 19, 20]
    assert entry.versions == tuple(range(1, 21)) and entry.served == 10
    # any other version still answers when asked for, read on demand (and kept in a small LRU)
    assert reg.get("xor", version=2).version == 2
    assert reg.get("xor", version=2) is reg.get("xor", version=2)
    assert 2 not in reg.entry("xor").loaded


def test_a_new_version_a_label_change_and_a_removed_version_are_seen(store):
    reg = _registry(store)
    _copies(store, "xor", 1)
    reg.refresh()
    assert reg.get("xor").version == 2
    store.set_label("xor", "default", 1)
    reg.refresh()
    assert reg.get("xor").version == 1
    (store.root / "xor" / "2.json").unlink()
    reg.refresh()
    assert reg.entry("xor").versions == (1,)


def test_a_model_with_no_servable_version_is_listed_but_does_not_take_the_service_down(store):
    (store.root / "broken").mkdir()
    (store.root / "broken" / "1.json").write_text('{"format": "evil <script>", "x": ')
    reg = _registry(store)
    snap = reg.snapshot
    assert snap.ready  # the other models still serve
    assert "broken" in snap.failures and "not valid JSON" in snap.failures["broken"]
    assert "evil" not in json.dumps(snap.failures) and "evil" not in json.dumps(reg.failures("broken"))
    with pytest.raises(NotServable, match="cannot be served"):
        reg.get("broken")


def test_a_file_of_another_format_is_reported_without_echoing_its_content(store):
    (store.root / "xor" / "2.json").write_text(json.dumps({"format": "<img src=x onerror=alert(1)>"}))
    reg = _registry(store)
    why = reg.failures("xor")[2]
    assert "not a tinymlp-model file" in why and "img" not in why
    assert reg.get("xor").version == 1


def test_a_default_label_naming_a_missing_version_is_an_error_not_the_newest(store):
    _copies(store, "xor", 2)
    (store.root / "xor" / "labels.json").write_text('{"default": 999}')
    reg = _registry(store)  # a fresh worker: nothing was served before
    entry = reg.entry("xor")
    assert entry.served is None and "999" in entry.label_error and "does not exist" in entry.label_error
    with pytest.raises(NotServable, match="default label names version 999"):
        reg.get("xor")
    assert reg.get("xor", version=3).version == 3  # pinned versions still answer


def test_a_bad_label_change_keeps_serving_what_was_served(store):
    _copies(store, "xor", 2)
    store.set_label("xor", "default", 2)
    reg = _registry(store)
    assert reg.get("xor").version == 2
    (store.root / "xor" / "labels.json").write_text('{"default": 999}')
    reg.refresh()
    entry = reg.entry("xor")
    assert entry.served == 2 and "999" in entry.label_error
    assert reg.get("xor").version == 2
    store.set_label("xor", "default", 3)  # fixed: the error goes
    reg.refresh()
    assert reg.get("xor").version == 3 and reg.entry("xor").label_error is None


def test_every_worker_agrees_when_the_default_file_is_damaged_in_place(store):
    _copies(store, "xor", 2)
    store.set_label("xor", "default", 2)
    old = _registry(store)  # a worker that has served version 2 for a while
    assert old.get("xor").version == 2
    path = store.root / "xor" / "2.json"
    damaged = path.read_text().replace('"checksum":"sha256:', '"checksum":"sha256:0')
    path.write_text(damaged)  # in place: same inode
    old.refresh()
    fresh = _registry(store)  # a worker restarted since
    for reg in (old, fresh):
        with pytest.raises(NotServable, match="fails its checks"):
            reg.get("xor")
        assert reg.entry("xor").served is None
    assert "checksum" in old.failures("xor")[2]


def test_a_huge_file_is_refused_unread_and_not_looked_at_again(store, monkeypatch):
    big = store.root / "xor" / "2.json"
    with open(big, "wb") as f:
        f.truncate(2 * 1024 * 1024)  # over the 1 MiB limit of this store
    reads = []
    import mlp

    real = mlp.load
    monkeypatch.setattr(mlp, "load", lambda path: reads.append(path) or real(path))
    reg = _registry(store)
    assert "more than the 1,048,576 allowed" in reg.failures("xor")[2]
    store.set_label("xor", "canary", 1)  # a later label change rescans the folder
    reg.refresh()
    assert [p for p in reads if str(p).endswith("2.json")] == []
    assert reg.get("xor").version == 1


def test_files_and_folders_outside_the_store_are_refused(store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(store.root / "xor" / "1.json", outside / "1.json")
    os.symlink(outside / "1.json", store.root / "xor" / "2.json")
    shutil.copytree(store.root / "quadrant", outside / "elsewhere")
    os.symlink(outside / "elsewhere", store.root / "linked")
    reg = _registry(store)
    assert "outside the model store" in reg.failures("xor")[2]
    assert reg.get("xor").version == 1
    assert "linked" not in reg.snapshot.models
    # a link inside the store is fine
    os.symlink(store.root / "xor" / "1.json", store.root / "quadrant" / "2.json")
    assert "names another model" in _registry(store).failures("quadrant")[2]  # (it is xor's file)


def test_keeping_more_versions_loaded_than_there_are_loads_them_all(store):
    _copies(store, "xor", 4)
    assert sorted(_registry(store, keep_loaded=100).entry("xor").loaded) == [1, 2, 3, 4, 5]


def test_a_version_published_since_the_last_scan_answers_when_asked_for_by_number(store):
    reg = _registry(store)
    _copies(store, "xor", 1)  # version 2, not scanned yet
    assert reg.get("xor").version == 1  # the served version moves at the next scan
    assert reg.get("xor", version=2).version == 2  # but a pinned one answers at once
    with pytest.raises(VersionNotFound):
        reg.get("xor", version=3)
