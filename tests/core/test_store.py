"""The model store: atomic no-clobber publish, versions, labels, the served version."""

import json
import multiprocessing as mp
import os
import stat

import numpy as np
import pytest

import mlp
from core.store import FileRefused, ModelStore, NotFound, StoreError


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


# -- versions past the pattern ------------------------------------------------------------------

def test_the_largest_version_number_is_listed_labelled_and_then_publishing_stops(store):
    from core.store import MAX_VERSION

    store.publish("m", small_net())
    top = store.root / "m" / f"{MAX_VERSION}.json"
    top.write_text((store.root / "m" / "1.json").read_text().replace('"version":1,', f'"version":{MAX_VERSION},'))
    (store.root / "m" / f"{MAX_VERSION + 1}.json").write_bytes(top.read_bytes())  # past the pattern: not a version
    assert store.versions("m") == [1, MAX_VERSION]
    store.set_label("m", "canary", MAX_VERSION)
    assert store.resolve("m", "canary") == MAX_VERSION
    with pytest.raises(StoreError, match=f"model 'm' has reached the largest version number, {MAX_VERSION}; "
                                         "publish under a new name"):
        store.publish("m", small_net())
    assert sorted(p.name for p in (store.root / "m").iterdir()) == sorted(
        ["1.json", f"{MAX_VERSION}.json", f"{MAX_VERSION + 1}.json", "labels.json"])  # nothing written
    with pytest.raises(NotFound):
        store.open("m", MAX_VERSION + 1)


def test_labels_naming_a_version_past_the_pattern_are_malformed(store):
    store.publish("m", small_net())
    (store.root / "m" / "labels.json").write_text('{"default": 1000000000}')
    with pytest.raises(StoreError, match="version numbers \\(1 to 999999999\\)"):
        store.labels("m")


def test_a_file_the_store_would_not_read_is_not_published(tmp_path):
    small = ModelStore(tmp_path, max_model_bytes=1000)
    with pytest.raises(StoreError, match="more than the 1,000 a reader takes"):
        small.publish("m", small_net())
    assert small.versions("m") == []


# -- files the store will not read --------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fifo", "socket", "folder", "link-to-fifo", "deep", "huge-number", "not-utf8",
                                  "list", "outside"])
def test_a_labels_file_that_is_not_one_is_a_store_error_without_hanging(store, kind, tmp_path):
    store.publish("m", small_net())
    path = store.root / "m" / "labels.json"
    make = {
        "fifo": lambda: os.mkfifo(path),
        "socket": lambda: os.mknod(path, 0o600 | stat.S_IFSOCK),
        "folder": lambda: path.mkdir(),
        "link-to-fifo": lambda: (os.mkfifo(store.root / "m" / "pipe"), os.symlink(store.root / "m" / "pipe", path)),
        "deep": lambda: path.write_text('{"default": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        "huge-number": lambda: path.write_text('{"default": 1e400}'),
        "not-utf8": lambda: path.write_bytes(b'{"def\xffault": 1}'),
        "list": lambda: path.write_text("[1]"),
        "outside": lambda: ((tmp_path / "l.json").write_text('{"default": 1}'), os.symlink(tmp_path / "l.json", path)),
    }
    make[kind]()
    with pytest.raises(StoreError) as e:
        store.labels("m")
    listing = store.listing("m")
    assert listing.labels == {} and listing.labels_error == e.value.summary
    assert str(store.root) not in listing.labels_error  # what /models shows names no path


@pytest.mark.parametrize("kind", ["fifo", "socket", "folder", "link-to-fifo", "link-to-folder"])
def test_a_version_that_is_not_a_regular_file_is_refused_unopened(store, kind):
    store.publish("m", small_net())
    path = store.root / "m" / "2.json"
    make = {
        "fifo": lambda: os.mkfifo(path),
        "socket": lambda: os.mknod(path, 0o600 | stat.S_IFSOCK),
        "folder": lambda: path.mkdir(),
        "link-to-fifo": lambda: (os.mkfifo(store.root / "m" / "pipe"), os.symlink(store.root / "m" / "pipe", path)),
        "link-to-folder": lambda: os.symlink(store.root / "m", path),
    }
    make[kind]()
    assert store.versions("m") == [1, 2]
    with pytest.raises(FileRefused, match="not a regular file"):
        store.open("m", 2)
    assert store.resolve("m") == 1


@pytest.mark.parametrize(("key", "value", "says"), [
    ("training", {"curve": 5}, "training.curve must be a list"),
    ("training", {"curve": [5]}, r"training.curve\[0\] must be an object"),
    ("training", {"curve": [{"epoch": "1", "loss": 1, "metric": 1}]}, r"curve\[0\].epoch must be a whole number"),
    ("training", {"curve": [{"loss": 1, "metric": 1}]}, r"curve\[0\].epoch is missing"),
    ("training", "by hand", "training must be an object"),
    ("training", {"seed": "0"}, "training.seed must be a whole number"),
    ("training", {"stopped_early": 1}, "training.stopped_early must be true or false"),
    ("training", {"config": [1]}, "training.config must be an object"),
    ("parent", "1", "parent must be a whole number"),
    ("parent", True, "parent must be a whole number"),
    ("created_at", 5, "created_at must be a string"),
    ("task", ["red"], "task must be a string"),
    ("metrics", [1], "metrics must be an object"),
    ("metrics", {"headline": "good"}, "metrics.headline must be an object"),
    ("metrics", {"headline": {"metric": "accuracy", "value": "high"}}, "metrics.headline.value must be a number"),
])
def test_metadata_of_the_wrong_type_refuses_the_version(store, key, value, says):
    store.publish("m", small_net())
    path = store.root / "m" / "2.json"
    doc = json.loads((store.root / "m" / "1.json").read_text())
    path.write_text(json.dumps({**doc, "version": 2, key: value}))
    with pytest.raises(mlp.ModelFileError, match=says) as e:
        store.open("m", 2)
    assert e.value.summary.startswith("its metadata is malformed: ")
    assert store.resolve("m") == 1


def test_a_metadata_mutated_anywhere_opens_or_is_refused(store):
    """Property: whatever JSON a model's metadata holds, opening the version gives a typed
    record or a refusal (mlp.ModelFileError), never another exception."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    store.publish("m", small_net(), training={"trained_by": "test", "curve": [{"epoch": 1, "loss": 1.0,
                                                                            "metric": 0.5}]},
                  metrics={"headline": {"metric": "accuracy", "eval_set": "test", "value": 0.5}})
    doc = json.loads((store.root / "m" / "1.json").read_text())
    leaves = st.none() | st.booleans() | st.integers(-(2**65), 2**65) | st.floats(allow_nan=False,
                                                                                   allow_infinity=False) | st.text(
        max_size=4)
    values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["epoch", "loss", "metric", "curve", "headline", "value", "x"]), inner, max_size=3),
        max_leaves=8)
    paths = [("parent",), ("created_at",), ("task",), ("training",), ("training", "curve"),
             ("training", "curve", 0), ("training", "curve", 0, "epoch"), ("training", "config"), ("metrics",),
             ("metrics", "headline"), ("metrics", "headline", "value"), ("metrics", "headline", "metric")]

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(path=st.sampled_from(paths), value=values)
    def check(path, value):
        mutated = json.loads(json.dumps(doc))
        node = mutated
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
        (store.root / "m" / "1.json").write_text(json.dumps(mutated))
        try:
            store.open("m", 1)
        except mlp.ModelFileError as e:
            assert e.summary

    check()


# -- the store owns its paths --------------------------------------------------------------

def test_changed_sees_a_new_version_a_label_and_a_rewrite_in_place(store):
    store.publish("m", small_net())
    listing = store.listing("m")
    stamps = listing.stamps([1])
    assert stamps == store.stamps("m", [1]) and not store.changed("m", stamps)
    store.set_label("m", "default", 1)
    assert store.changed("m", stamps)
    stamps = store.stamps("m", [1])
    store.publish("m", small_net(1))
    assert store.changed("m", stamps)
    stamps = store.stamps("m", [1, 2])
    path = store.root / "m" / "1.json"
    os.utime(path, ns=(0, 0))  # rewritten in place: same folder, same name
    assert store.changed("m", stamps)


def test_every_field_of_a_training_record_is_read_back():
    # The typed reader checks each field it knows; a field the record has but the reader does
    # not list would be dropped silently on every read.
    import dataclasses

    from core.records import _TRAINING_FIELDS, TrainingRecord

    # curve and reference (core.drift) are read by their own readers
    assert set(_TRAINING_FIELDS) | {"curve", "reference"} == {f.name for f in dataclasses.fields(TrainingRecord)}
