"""The model store: atomic no-clobber publish, versions, labels, the served version."""

import json
import multiprocessing as mp

import numpy as np
import pytest

import mlp
from core.store import ModelStore, NotFound, StoreError


def small_net(seed=0):
    net = mlp.Network.build(mlp.NetworkConfig(hidden=(3,)), 2, 2, seed=seed, labels=["a", "b"])
    net.normalizer = mlp.Normalizer.standard(np.random.default_rng(seed).normal(size=(10, 2)))
    return net


def test_publish_numbers_versions_and_writes_complete_files(store):
    assert [store.publish("m", small_net(i)).version for i in range(3)] == [1, 2, 3]
    assert store.versions("m") == [1, 2, 3]
    loaded = store.load("m", 2)
    assert loaded.metadata["version"] == 2 and loaded.metadata["name"] == "m"
    leftovers = [p.name for p in (store.root / "m").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_publish_never_replaces_an_existing_file(store):
    store.publish("m", small_net())
    before = (store.root / "m" / "1.json").read_bytes()
    # a file appearing behind the publisher's back (another container) is not clobbered
    (store.root / "m" / "2.json").write_text("taken")
    assert store.publish("m", small_net(1)).version == 3
    assert (store.root / "m" / "2.json").read_text() == "taken"
    assert (store.root / "m" / "1.json").read_bytes() == before


def _publish_many(root, n, queue):
    s = ModelStore(root)
    queue.put([s.publish("race", small_net(i)).version for i in range(n)])


def test_concurrent_publishers_never_share_a_version(tmp_path):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_publish_many, args=(tmp_path, 5, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    got = [v for _ in procs for v in queue.get(timeout=60)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(got) == list(range(1, 21))
    assert ModelStore(tmp_path).versions("race") == list(range(1, 21))


def test_labels_and_served_version(store):
    for i in range(3):
        store.publish("m", small_net(i))
    assert store.resolve("m") == 3
    store.set_label("m", "default", 1)
    store.set_label("m", "canary", 2)
    assert store.resolve("m") == 1
    assert store.resolve("m", "canary") == 2
    assert json.loads((store.root / "m" / "labels.json").read_text()) == {"canary": 2, "default": 1}
    store.remove_label("m", "default")
    assert store.resolve("m") == 3


def test_served_version_skips_a_damaged_newest_file(store):
    store.publish("m", small_net())
    (store.root / "m" / "2.json").write_text("{not json")
    assert store.resolve("m") == 1
    with pytest.raises(mlp.ModelFileError, match="not valid JSON"):
        store.load("m", 2)


def test_a_file_claiming_another_identity_is_refused(store):
    store.publish("m", small_net())
    (store.root / "m" / "7.json").write_bytes((store.root / "m" / "1.json").read_bytes())
    with pytest.raises(mlp.ModelFileError, match="says it is 'm' version 1"):
        store.load("m", 7)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: s.resolve("ghost"), NotFound, "no model named 'ghost'"),
        (lambda s: s.load("m", 9), NotFound, "has no version 9"),
        (lambda s: s.resolve("m", "prod"), NotFound, "has no label 'prod'"),
        (lambda s: s.set_label("m", "default", 5), NotFound, "has no version 5"),
        (lambda s: s.set_label("m", "Bad Label", 1), StoreError, "invalid label"),
        (lambda s: s.publish("../evil", small_net()), StoreError, "invalid model name"),
    ],
)
def test_store_errors_say_what_is_wrong(store, call, error, message):
    store.publish("m", small_net())
    with pytest.raises(error, match=message):
        call(store)


def test_malformed_labels_file_is_reported(store):
    store.publish("m", small_net())
    (store.root / "m" / "labels.json").write_text('{"default": "one"}')
    with pytest.raises(StoreError, match="must map label names to version numbers"):
        store.labels("m")


def _chain(store, n):
    """Versions 1..n of m, each the parent of the next."""
    for i in range(n):
        store.publish("m", small_net(i), parent=i or None)


def test_prune_keeps_the_newest_the_served_the_labelled_and_their_parents(store):
    _chain(store, 12)
    store.set_label("m", "default", 4)
    store.set_label("m", "canary", 7)
    report = store.prune("m", keep=3)
    # newest 10..12 and the parent of 10 (9); served 4 and its parent 3; canary 7 and its parent 6
    assert store.versions("m") == [3, 4, 6, 7, 9, 10, 11, 12]
    assert report.removed == [1, 2, 5, 8]
    assert report.kept[4] == "labelled default" and report.kept[9] == "parent of version 10"


def test_prune_dry_run_and_dropping_parents(store):
    _chain(store, 6)
    assert store.prune("m", keep=2, dry_run=True).removed == [1, 2, 3]
    assert store.versions("m") == list(range(1, 7))
    assert store.prune("m", keep=2, keep_parents=False).removed == [1, 2, 3, 4]
    assert store.versions("m") == [5, 6]


def test_prune_never_removes_the_served_version_without_labels(store):
    _chain(store, 3)
    (store.root / "m" / "3.json").write_text("{broken")  # the newest does not load: 2 is served
    assert store.resolve("m") == 2
    store.prune("m", keep=0, keep_parents=False)
    assert store.versions("m") == [2]


def test_prune_keeping_more_than_there_are_removes_nothing(store):
    _chain(store, 3)
    assert store.prune("m", keep=10, keep_parents=False).removed == []
    assert store.versions("m") == [1, 2, 3]
