"""The model store: ``<root>/<name>/<version>.json`` plus an optional ``labels.json``.

Versions are positive integers and immutable once written. ``publish`` writes a
temporary file in the model's folder, fsyncs it, then claims the final name
with ``os.link`` (which never replaces an existing file); on a clash it takes
the next number. So two publishers never get the same version and no reader
ever sees a partial file. ``labels.json`` maps label names to versions and is
replaced atomically with ``os.replace``. The served version is the ``default``
label if set, else the highest version that loads.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlp

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LABEL_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
VERSION_RE = re.compile(r"^([1-9][0-9]{0,8})\.json$")
LABELS_FILE = "labels.json"


class StoreError(Exception):
    """A store operation that cannot be done; the message says why and what to do."""


class NotFound(StoreError):
    pass


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise StoreError(
            f"invalid model name {name!r}: use 1-64 lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_label(label: str) -> str:
    if not isinstance(label, str) or not LABEL_RE.match(label):
        raise StoreError(
            f"invalid label {label!r}: use 1-32 lowercase letters, digits, '_' or '-', "
            "starting with a letter"
        )
    return label


@dataclass(frozen=True)
class Published:
    name: str
    version: int
    path: Path


class ModelStore:
    def __init__(self, root):
        self.root = Path(root)

    # -- reading ---------------------------------------------------------------------

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and NAME_RE.match(p.name))

    def versions(self, name: str) -> list[int]:
        """Every version file present (valid or not), ascending."""
        folder = self.root / check_name(name)
        if not folder.is_dir():
            return []
        found = (VERSION_RE.match(p.name) for p in folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def path(self, name: str, version: int) -> Path:
        return self.root / check_name(name) / f"{int(version)}.json"

    def labels(self, name: str) -> dict[str, int]:
        """labels.json as {label: version}; an unreadable file is an error, a missing one {}."""
        path = self.root / check_name(name) / LABELS_FILE
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise StoreError(f"cannot read {path}: {e.strerror}") from None
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise StoreError(f"{path} is not valid JSON ({e}); fix or delete it") from None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and LABEL_RE.match(k) and type(v) is int and v > 0
            for k, v in data.items()
        ):
            raise StoreError(f"{path} must map label names to positive version numbers")
        return data

    def load(self, name: str, version: int | None = None, label: str | None = None) -> mlp.Network:
        """A model by version, by label, or the served one; raises NotFound or ModelFileError."""
        if version is None and label is None:
            return self._served(name)
        if version is None:
            version = self.resolve(name, label)
        path = self.path(name, version)
        if not path.is_file():
            if not self.versions(name):
                raise NotFound(f"no model named {name!r}; models: {', '.join(self.names()) or 'none'}")
            raise NotFound(f"model {name!r} has no version {version}; versions: {self.versions(name)}")
        net = mlp.load(path)
        if net.metadata.get("name") != name or net.metadata.get("version") != version:
            raise mlp.ModelFileError(
                f"{path}: the file says it is {net.metadata.get('name')!r} version "
                f"{net.metadata.get('version')!r}, not {name!r} version {version}"
            )
        return net

    def resolve(self, name: str, label: str | None = None) -> int:
        """The version a label points at, or (no label) the served version."""
        versions = self.versions(name)
        if not versions:
            raise NotFound(f"no model named {name!r}; models: {', '.join(self.names()) or 'none'}")
        labels = self.labels(name)
        if label is not None:
            check_label(label)
            if label not in labels:
                raise NotFound(f"model {name!r} has no label {label!r}; labels: {sorted(labels)}")
            return labels[label]
        if labels.get("default") in versions:
            return labels["default"]
        return self._served(name).metadata["version"]

    def _served(self, name: str) -> mlp.Network:
        """The default label's version, else the newest that loads; read once, returned whole."""
        versions = self.versions(name)
        if not versions:
            raise NotFound(f"no model named {name!r}; models: {', '.join(self.names()) or 'none'}")
        default = self.labels(name).get("default")
        if default in versions:
            return self.load(name, default)
        for v in reversed(versions):
            try:
                return self.load(name, v)
            except (mlp.ModelFileError, StoreError):
                continue
        raise NotFound(f"model {name!r} has no version that loads")

    # -- writing ---------------------------------------------------------------------

    def publish(self, name: str, network: mlp.Network, **metadata) -> Published:
        """Write ``network`` as the next version of ``name``; never replaces a file."""
        folder = self.root / check_name(name)
        folder.mkdir(parents=True, exist_ok=True)
        version = (self.versions(name) or [0])[-1] + 1
        while True:
            text = mlp.dumps(network, **{**metadata, "name": name, "version": version})
            tmp = _write_temp(folder, text)
            final = folder / f"{version}.json"
            try:
                os.link(tmp, final)
            except FileExistsError:
                version += 1  # another publisher took it
                continue
            finally:
                os.unlink(tmp)
            _fsync_dir(folder)
            # The in-memory network now is that version: same identity as the file.
            network.metadata = {**network.metadata, **metadata, "name": name, "version": version}
            return Published(name, version, final)

    def set_label(self, name: str, label: str, version: int) -> None:
        check_label(label)
        if version not in self.versions(name):
            raise NotFound(f"model {name!r} has no version {version}; versions: {self.versions(name)}")
        labels = self.labels(name)
        labels[label] = version
        self._write_labels(name, labels)

    def remove_label(self, name: str, label: str) -> None:
        labels = self.labels(name)
        if labels.pop(check_label(label), None) is not None:
            self._write_labels(name, labels)

    def _write_labels(self, name: str, labels: dict) -> None:
        folder = self.root / check_name(name)
        tmp = _write_temp(folder, json.dumps(labels, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, folder / LABELS_FILE)
        _fsync_dir(folder)


def _write_temp(folder: Path, text: str) -> Path:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; other containers' users read the store
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
