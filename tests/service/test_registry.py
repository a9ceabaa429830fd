"""The registry: get() and its domain errors, the version policy, and what it does with a
broken model, a broken or missing default label, and files it must not read."""

from __future__ import annotations

import json
import os
import shutil
import stat

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


# -- one bad file never stops the others -----------------------------------------------------------

def _doc(store) -> dict:
    doc = json.loads((store.root / "xor" / "1.json").read_text())
    doc["version"] = 2
    return doc


def _resummed(doc):
    from mlp.serialization import checksum

    doc["checksum"] = checksum(doc)
    return doc


def _put(path_in_doc, value):
    def craft(doc):
        node = doc
        for key in path_in_doc[:-1]:
            node = node[key]
        node[path_in_doc[-1]] = value
        return json.dumps(_resummed(doc)).encode()
    return craft


def _text(replace_first_bias):
    def craft(doc):
        text = json.dumps(_resummed(doc))
        at = text.index('"biases": [') + len('"biases": [')
        return (text[:at] + replace_first_bias + text[text.index(",", at):]).encode()
    return craft


def _overflowing(doc):
    for layer in doc["layers"]:
        layer["activation"] = {"name": "linear", "params": {}}
        layer["weights"] = [[3e38] * len(row) for row in layer["weights"]]
    doc.update(loss="mse", architecture=None)
    return json.dumps(_resummed(doc)).encode()


CRAFTED = {  # a version file's content, made from a good document (the checksum made to match)
    "layers [1]": _put(["layers"], [1]),
    "a string activation": _put(["layers", 0, "activation"], "tanh"),
    "a list output": _put(["output"], ["classifier", ["1", "0"]]),
    "training.curve 5": _put(["training", "curve"], 5),
    "very deep nesting": lambda doc: b'{"format": "tinymlp-model", "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
    "deep metadata": _put(["metrics", "x"], json.loads("[" * 500 + "]" * 500)),
    "format_version true": _put(["format_version"], True),
    "dtype a number": _put(["dtype"], 32),
    "input a string": _put(["input"], "x, y"),
    "features a number": _put(["input", "features"], 2),
    "bounds an object": _put(["input", "low"], {"x": 0}),
    "normalization a list": _put(["normalization"], [0, 1]),
    "labels a number": _put(["output", "labels"], 2),
    "n_in true": _put(["layers", 0, "n_in"], True),
    "n_in huge": _put(["layers", 0, "n_in"], 10**30),
    "weights strings": _put(["layers", 0, "weights"], [["1.5", "2"], ["1", "0"]]),
    "weights 3-D": _put(["layers", 0, "weights"], [[[1.0]]]),
    "biases null": _put(["layers", 0, "biases"], None),
    "weights past float32": _put(["layers", 0, "weights", 0, 0], 1e39),
    "leaky_relu alpha 1e308": _put(["layers", 0, "activation"], {"name": "leaky_relu", "params": {"alpha": 1e308}}),
    "activation params a list": _put(["layers", 0, "activation", "params"], [1]),
    "outputs overflow": _overflowing,
    "loss a number": _put(["loss"], 1),
    "architecture a number": _put(["architecture"], 1),
    "optimizer a string": _put(["optimizer"], "adam"),
    "optimizer t a string": _put(["optimizer", "state", "t"], "8"),
    "parent a string": _put(["parent"], "1"),
    "headline value a string": _put(["metrics", "headline", "value"], "high"),
    "version a string": _put(["version"], "2"),
    "input null": _put(["input"], None),
    "layers null": _put(["layers"], None),
    "checksum null": lambda doc: json.dumps({**doc, "checksum": None}).encode(),
    "NaN": _text("NaN"), "-NaN": _text("-NaN"), "nan": _text("nan"), "Infinity": _text("Infinity"),
    "-Infinity": _text("-Infinity"), "inf": _text("inf"), "1e400": _text("1e400"),
    "not UTF-8": lambda doc: json.dumps(_resummed(doc)).encode().replace(b'"xor"', b'"x\xffor"', 1),
    "a lone surrogate": lambda doc: json.dumps(_resummed(doc)).encode().replace(b'"xor"', b'"x\\ud800"', 1),
    "empty": lambda doc: b"",
    "truncated": lambda doc: json.dumps(_resummed(doc)).encode()[:500],
    "a list": lambda doc: b"[1, 2]",
}
NOT_FILES = {  # things named 2.json that are no file to read
    "a folder": lambda path: path.mkdir(),
    "a FIFO": lambda path: os.mkfifo(path),
    "a socket": lambda path: os.mknod(path, 0o600 | stat.S_IFSOCK),
    "a link to a FIFO in the store": lambda path: (os.mkfifo(path.parent / "pipe"), os.symlink(path.parent / "pipe",
                                                                                               path)),
    "a link to /dev/zero": lambda path: os.symlink("/dev/zero", path),
}


def _app(store):
    from service import create_app
    from service.config import Config

    return create_app(Config(models_dir=str(store.root), state_dir=str(store.root.parent / "state"),
                             start_reloader=False, log_level="CRITICAL"))


def _one_bad_version_is_refused_alone(store):
    reg = _registry(store)  # the scan completes
    why = reg.failures("xor")[2]
    assert reg.get("xor").version == 1 and reg.snapshot.ready
    assert {e.served for e in reg.snapshot.models.values()} == {1}  # every model serves
    with pytest.raises(VersionNotFound, match="failed its checks") as e:
        reg.get("xor", version=2)
    assert why in str(e.value)
    client = _app(store).test_client()
    answer = client.post("/predict/xor/versions/2", json={"inputs": [[0, 1]]})
    assert answer.status_code == 404 and why in answer.get_json()["message"]
    assert client.post("/predict/xor", json={"inputs": [[0, 1]]}).get_json()["version"] == 1
    assert client.post("/predict/red", json={"inputs": [[255, 0, 0]]}).status_code == 200
    assert client.get("/models/xor").get_json()["failures"] == {"2": why}
    return why


@pytest.mark.parametrize("craft", CRAFTED.values(), ids=CRAFTED.keys())
def test_a_crafted_version_file_is_refused_alone(store, craft):
    (store.root / "xor" / "2.json").write_bytes(craft(_doc(store)))
    _one_bad_version_is_refused_alone(store)


@pytest.mark.parametrize("make", NOT_FILES.values(), ids=NOT_FILES.keys())
def test_a_version_that_is_no_regular_file_is_refused_alone_without_hanging(store, make):
    make(store.root / "xor" / "2.json")
    why = _one_bad_version_is_refused_alone(store)
    assert why in ("it is not a regular file", "it resolves outside the model store")


LABELS = {
    "a FIFO": lambda path: os.mkfifo(path),
    "a folder": lambda path: path.mkdir(),
    "deep": lambda path: path.write_text('{"default": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    "a version past the pattern": lambda path: path.write_text('{"default": 1000000000}'),
    "a huge number": lambda path: path.write_text('{"default": 1e400}'),
    "not UTF-8": lambda path: path.write_bytes(b'{"default": 1, "\xff": 1}'),
}


@pytest.mark.parametrize("make", LABELS.values(), ids=LABELS.keys())
def test_a_crafted_labels_file_takes_only_its_model_out(store, make):
    make(store.root / "xor" / "labels.json")
    reg = _registry(store)
    entry = reg.entry("xor")
    assert entry.served is None and "labels.json" in entry.label_error
    assert reg.snapshot.ready and reg.get("red").version == 1
    client = _app(store).test_client()
    answer = client.post("/predict/xor", json={"inputs": [[0, 1]]})
    assert answer.status_code == 503 and "labels.json" in answer.get_json()["message"]
    assert client.post("/predict/red", json={"inputs": [[255, 0, 0]]}).status_code == 200


class FaultyStore(ModelStore):
    """A store whose reading fails in ways no check names (a bug, say): for one version, and
    for one model's listing."""

    broken_version = ("xor", 2)
    broken_listing = "iris"
    listing_works = False

    def open(self, name, version=None, label=None, **options):
        if (name, version) == self.broken_version:
            raise TypeError("a fault no check names")
        return super().open(name, version, label, **options)

    def listing(self, name):
        if name == self.broken_listing and not self.listing_works:
            raise AttributeError("another fault no check names")
        return super().listing(name)


def test_an_unexpected_error_refuses_one_version_or_one_model_never_the_scan(store_dir):
    store = FaultyStore(store_dir)
    _copies(store, "xor", 1)
    reg = _registry(store)
    assert reg.failures("xor") == {2: "it could not be read (an unexpected error; see the service's log)"}
    assert reg.get("xor").version == 1
    assert reg.snapshot.failures == {"iris": "it could not be scanned (an unexpected error; see the service's log)"}
    assert reg.get("red").version == 1 and reg.snapshot.ready


def test_a_model_that_served_keeps_serving_when_a_later_scan_of_it_fails_unexpectedly(store_dir):
    store = FaultyStore(store_dir)
    store.listing_works = True
    reg = _registry(store)
    assert reg.get("iris").version == 1
    store.listing_works = False
    _copies(store, "iris", 1)  # a change, so that iris is scanned again
    _copies(store, "red", 1)
    reg.refresh()
    assert reg.get("iris").version == 1 and reg.get("red").version == 2


def test_the_registry_asks_the_store_whether_a_model_changed(store_dir):
    calls = []

    class Watched(ModelStore):
        def changed(self, name, stamps):
            calls.append((name, set(stamps)))
            return super().changed(name, stamps)

    store = Watched(store_dir)
    reg = _registry(store)
    reg.refresh()
    assert ("xor", {".", "labels.json", "rollout.json", "1.json"}) in calls  # the store's MODEL_FILES and versions
    first = reg.entry("xor")
    reg.refresh()
    assert reg.entry("xor") is first  # unchanged: not scanned again
