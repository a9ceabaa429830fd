"""The model store: ``<root>/<name>/<version>.json`` plus an optional ``labels.json``.

The store owns this layout and the rule that picks the served version; the service's
registry and the worker ask it rather than knowing either.

- Versions are positive integers and immutable once written. ``publish`` writes a temporary
  file in the model's folder, fsyncs it, then claims the final name with ``os.link`` (which
  never replaces an existing file); on a clash it takes the next number. So two publishers
  never get the same version and no reader ever sees a partial file.
- ``labels.json`` maps label names to versions and is replaced atomically.
- The served version (``serve_rule``) is the ``default`` label's version when the label is
  set, and an error when that version is missing or broken: never silently the newest.
  Without a ``default`` label it is the newest version that loads.
- Reading is guarded: a file or folder that resolves outside the store, or a file larger
  than ``max_model_bytes``, is refused before a byte of it is parsed.
- Beside a version lie its attachments, ``<name>/<version>.<kind>.<png|json>``: the pictures
  drawn when it was published and their record (``core.pictures``). They are replaced
  atomically, read only as regular files (never through a symbolic link), and removed with
  their version.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import mlp
from core import settings
from core.records import ModelVersion, VersionInfo

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LABEL_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
VERSION_RE = re.compile(r"^([1-9][0-9]{0,8})\.json$")
ATTACHMENT_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}\.(png|json)$")  # after "<version>.": never "json" alone
MAX_ATTACHMENT_BYTES = 8 * 1024 * 1024  # a picture is some kilobytes; anything this large is not one
LABELS_FILE = "labels.json"
DEFAULT_MAX_MODEL_BYTES = settings.default("TINYMLP_MAX_MODEL_BYTES")


class StoreError(Exception):
    """A store operation that cannot be done; the message says why and what to do.
    ``summary`` says it without quoting anything read from a file."""

    def __init__(self, message: str, summary: str | None = None):
        super().__init__(message)
        self.summary = summary or message


class NotFound(StoreError):
    pass


class FileRefused(StoreError):
    """A version file refused unread: outside the store, not a regular file, or too large."""


class NoServableVersion(StoreError):
    """No version can be served: the default label names a missing or broken version, or none loads."""


class Stamp(NamedTuple):
    """What changes when a file is replaced or rewritten in place."""

    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Stamp:
        return cls(st.st_ino, st.st_size, st.st_mtime_ns)

    @classmethod
    def at(cls, path) -> Stamp | None:
        """The stamp of the file at ``path`` now; None if there is none."""
        try:
            return cls.of(os.stat(path))
        except OSError:
            return None


@dataclass(frozen=True)
class Listing:
    """One model folder as it is on disk now, nothing parsed but labels.json."""

    name: str
    folder: Stamp
    versions: dict[int, Stamp]  # every version file present
    labels: dict[str, int]
    labels_error: str | None = None  # labels.json is unreadable or malformed (``labels`` is then {})
    labels_stamp: Stamp | None = None


@dataclass(frozen=True)
class PruneReport:
    removed: list[int] = field(default_factory=list)
    kept: dict[int, str] = field(default_factory=dict)  # version -> why it stays


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


def serve_rule(name: str, versions: Iterable[int], labels: dict[str, int],
               servable: Callable[[int], bool]) -> int:
    """The served version of a model: ``default``'s version if set (an error if it is missing
    or does not load: never replaced by the newest), else the newest version that loads."""
    present = sorted(versions)
    if "default" in labels:
        v = labels["default"]
        if v not in present:
            raise NoServableVersion(f"model {name!r}: the default label names version {v}, which does not exist; "
                                    f"point it at a version that does (python -m trainer label {name} default <v>)")
        if not servable(v):
            raise NoServableVersion(f"model {name!r}: the default label names version {v}, which fails its checks; "
                                    f"point it at a good version (python -m trainer label {name} default <v>)")
        return v
    for v in reversed(present):
        if servable(v):
            return v
    if not present:
        raise NotFound(f"no model named {name!r}")
    raise NoServableVersion(f"model {name!r} has no version that passes its checks")


class ModelStore:
    def __init__(self, root, max_model_bytes: int = DEFAULT_MAX_MODEL_BYTES):
        self.root = Path(root)
        self.max_model_bytes = max_model_bytes

    # -- where things are -------------------------------------------------------------

    def folder(self, name: str) -> Path:
        return self.root / check_name(name)

    def path(self, name: str, version: int) -> Path:
        return self.folder(name) / f"{int(version)}.json"

    def _inside(self, path: Path) -> bool:
        try:
            return path.resolve().is_relative_to(self.root.resolve())
        except OSError:
            return False

    # -- reading ---------------------------------------------------------------------

    def names(self) -> list[str]:
        """Model folders, those that resolve outside the store left out."""
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return []
        return sorted(e.name for e in entries if NAME_RE.match(e.name) and e.is_dir()
                      and (not e.is_symlink() or self._inside(Path(e.path))))

    def versions(self, name: str) -> list[int]:
        """Every version file present (valid or not), ascending."""
        try:
            return sorted(self._version_entries(name))
        except OSError:
            return []

    def _version_entries(self, name: str) -> dict[int, os.DirEntry]:
        folder = self.folder(name)
        if folder.is_symlink() and not self._inside(folder):
            raise FileRefused(f"the folder of model {name!r} resolves outside the model store {self.root}; "
                              "refused")
        found = {}
        with os.scandir(folder) as it:
            for e in it:
                m = VERSION_RE.match(e.name)
                if m:
                    found[int(m.group(1))] = e
        return found

    def listing(self, name: str) -> Listing:
        """The folder as it is now: version files with their stamps, and labels.json read."""
        folder = self.folder(name)
        folder_stamp = Stamp.of(os.stat(folder))
        versions = {}
        for v, e in self._version_entries(name).items():
            try:
                versions[v] = Stamp.of(e.stat())
            except OSError:  # removed meanwhile, or a dangling link: absent
                continue
        labels, labels_error, labels_stamp = {}, None, None
        try:
            labels_stamp = Stamp.of(os.stat(folder / LABELS_FILE))
            labels = self.labels(name)
        except FileNotFoundError:
            pass
        except (OSError, StoreError) as e:
            labels_error = str(e)
        return Listing(name, folder_stamp, versions, labels, labels_error, labels_stamp)

    def stamp(self, name: str, version: int) -> Stamp | None:
        return Stamp.at(self.path(name, version))

    def labels(self, name: str) -> dict[str, int]:
        """labels.json as {label: version}; an unreadable file is an error, a missing one {}."""
        path = self.folder(name) / LABELS_FILE
        if path.is_symlink() and not self._inside(path):
            raise FileRefused(f"{path} resolves outside the model store; refused")
        try:
            if path.stat().st_size > 1024 * 1024:
                raise StoreError(f"{path} is larger than 1 MiB; it cannot be a labels file")
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as e:
            raise StoreError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise StoreError(f"{path} is not valid JSON ({e}); fix or delete it",
                             f"{LABELS_FILE} is not valid JSON; fix or delete it") from None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and LABEL_RE.match(k) and type(v) is int and v > 0
            for k, v in data.items()
        ):
            raise StoreError(f"{path} must map label names to positive version numbers")
        return data

    def open(self, name: str, version: int | None = None, label: str | None = None) -> ModelVersion:
        """A version with its metadata, by number, by label, or (neither) the served one.
        Raises NotFound, NoServableVersion, FileRefused or mlp.ModelFileError."""
        if version is None:
            version = self.resolve(name, label)
        path = self.path(name, version)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if not self.versions(name):
                raise NotFound(f"no model named {name!r}; models: {', '.join(self.names()) or 'none'}") from None
            raise NotFound(f"model {name!r} has no version {version}; versions: "
                           f"{some_versions(self.versions(name))}") from None
        return self._read(name, version, path, st)

    def _read(self, name: str, version: int, path: Path, st: os.stat_result) -> ModelVersion:
        if os.path.islink(path) or path.parent.is_symlink():
            if not self._inside(path):
                raise FileRefused(f"{path} resolves outside the model store {self.root}; refused",
                                  "it resolves outside the model store")
            st = os.stat(path)
        if not os.path.isfile(path):
            raise FileRefused(f"{path} is not a regular file", "it is not a regular file")
        if st.st_size > self.max_model_bytes:
            raise FileRefused(f"{path} is {st.st_size:,} bytes, more than the {self.max_model_bytes:,} allowed "
                              "(TINYMLP_MAX_MODEL_BYTES); refused unread",
                              f"it is {st.st_size:,} bytes, more than the {self.max_model_bytes:,} allowed")
        net = mlp.load(path)
        if net.metadata.get("name") != name or net.metadata.get("version") != version:
            raise mlp.ModelFileError(
                f"{path}: the file says it is {net.metadata.get('name')!r} version "
                f"{net.metadata.get('version')!r}, not {name!r} version {version}",
                "it names another model or version than its path",
            )
        return ModelVersion(VersionInfo.of(net), net)

    def load(self, name: str, version: int | None = None, label: str | None = None) -> mlp.Network:
        """The network of a version (see ``open``)."""
        return self.open(name, version, label).network

    def loads(self, name: str, version: int) -> bool:
        try:
            self.open(name, version)
        except (mlp.ModelFileError, StoreError, OSError):
            return False
        return True

    def resolve(self, name: str, label: str | None = None) -> int:
        """The version a label points at, or (no label) the served version (``serve_rule``)."""
        versions = self.versions(name)
        if not versions:
            raise NotFound(f"no model named {name!r}; models: {', '.join(self.names()) or 'none'}")
        labels = self.labels(name)
        if label is not None:
            check_label(label)
            if label not in labels:
                raise NotFound(f"model {name!r} has no label {label!r}; labels: {sorted(labels)}")
            return labels[label]
        return serve_rule(name, versions, labels, lambda v: self.loads(name, v))

    # -- writing ---------------------------------------------------------------------

    def publish(self, name: str, network: mlp.Network, **metadata) -> ModelVersion:
        """Write ``network`` as the next version of ``name``; never replaces a file."""
        folder = self.folder(name)
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
            return ModelVersion(VersionInfo.of(network), network)

    def set_label(self, name: str, label: str, version: int) -> None:
        check_label(label)
        if version not in self.versions(name):
            raise NotFound(f"model {name!r} has no version {version}; versions: {some_versions(self.versions(name))}")
        labels = self.labels(name)
        labels[label] = version
        self._write_labels(name, labels)

    def remove_label(self, name: str, label: str) -> None:
        labels = self.labels(name)
        if labels.pop(check_label(label), None) is not None:
            self._write_labels(name, labels)

    @contextmanager
    def default_pinned(self, name: str) -> Iterator[int | None]:
        """Pin ``default`` to the served version (when the model has no ``default``) for the
        length of the block, so a version published inside it is not served by accident.
        If the block fails, labels.json is put back as it was; the way back is written before
        the pin, so it needs no free space. Yields the pinned version, or None (nothing pinned)."""
        labels = self.labels(name)
        if "default" in labels:
            yield None
            return
        folder = self.folder(name)
        served = self.resolve(name)
        had_file = (folder / LABELS_FILE).exists()
        undo = _write_temp(folder, _labels_text(labels)) if had_file else None
        try:
            self._write_labels(name, {**labels, "default": served})
        except BaseException:
            if undo is not None:
                os.unlink(undo)
            raise
        try:
            yield served
        except BaseException:
            if undo is not None:
                os.replace(undo, folder / LABELS_FILE)
            else:
                (folder / LABELS_FILE).unlink(missing_ok=True)
            _fsync_dir(folder)
            raise
        if undo is not None:
            os.unlink(undo)

    def _write_labels(self, name: str, labels: dict) -> None:
        folder = self.folder(name)
        tmp = _write_temp(folder, _labels_text(labels))
        os.replace(tmp, folder / LABELS_FILE)
        _fsync_dir(folder)

    # -- attachments: a version's pictures and their record ------------------------------

    def attachment_path(self, name: str, version: int, suffix: str) -> Path:
        """``<name>/<version>.<suffix>``, for a suffix such as ``curve.png`` or ``pictures.json``."""
        if not isinstance(suffix, str) or not ATTACHMENT_RE.match(suffix):
            raise StoreError(f"invalid attachment {str(suffix)[:50]!r}: use <kind>.png or <kind>.json, the kind "
                             "1-40 lowercase letters, digits or '-', starting with a letter")
        return self.folder(name) / f"{int(version)}.{suffix}"

    def write_attachment(self, name: str, version: int, suffix: str, data: bytes) -> Path:
        """Write (or replace) an attachment of an existing version, atomically."""
        path = self.attachment_path(name, version, suffix)
        if self.stamp(name, version) is None:
            raise NotFound(f"model {name!r} has no version {version}")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)
        return path

    def open_attachment(self, name: str, version: int, suffix: str):
        """(binary file, its stat) of an attachment: NotFound if absent, FileRefused if it is a
        link, not a regular file, or larger than MAX_ATTACHMENT_BYTES. The caller closes it."""
        path = self.attachment_path(name, version, suffix)
        if path.parent.is_symlink() and not self._inside(path.parent):
            raise FileRefused(f"the folder of model {name!r} resolves outside the model store; refused")
        try:
            # no link followed; a FIFO opens without waiting for a writer, and is refused below
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            raise NotFound(f"{name} version {version} has no {suffix}") from None
        except OSError as e:
            raise FileRefused(f"{path.name} cannot be read ({e.strerror}); refused") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_ATTACHMENT_BYTES:
            os.close(fd)
            raise FileRefused(f"{path.name} is not a regular file of at most {MAX_ATTACHMENT_BYTES:,} bytes; refused")
        return os.fdopen(fd, "rb"), st

    def attachments(self, name: str, version: int) -> list[str]:
        """The suffixes of the attachments a version has now."""
        prefix = f"{int(version)}."
        try:
            entries = os.listdir(self.folder(name))
        except OSError:
            return []
        return sorted(e[len(prefix):] for e in entries if e.startswith(prefix) and ATTACHMENT_RE.match(e[len(prefix):]))

    # -- pruning -----------------------------------------------------------------------

    def prune(self, name: str, keep: int = 3, *, keep_parents: bool = True, dry_run: bool = False) -> PruneReport:
        """Remove old versions: all but the newest ``keep``, the served one, every labelled one
        and (``keep_parents``) the parent of each version kept."""
        if keep < 0:
            raise StoreError(f"keep must be >= 0, got {keep}")
        versions = self.versions(name)
        if not versions:
            raise NotFound(f"no model named {name!r}; models: {', '.join(self.names()) or 'none'}")
        labels = self.labels(name)
        kept: dict[int, str] = {}
        for v in versions[max(0, len(versions) - keep):] if keep else []:
            kept[v] = f"one of the newest {keep}"
        for label, v in sorted(labels.items()):
            if v in versions:
                kept.setdefault(v, f"labelled {label}")
        with suppress(StoreError):  # nothing served: nothing to protect on that account
            kept.setdefault(self.resolve(name), "served")
        if keep_parents:
            for v in list(kept):
                try:
                    parent = self.open(name, v).info.parent
                except (mlp.ModelFileError, StoreError, OSError):
                    continue
                if parent in versions:
                    kept.setdefault(parent, f"parent of version {v}")
        removed = [v for v in versions if v not in kept]
        if not dry_run:
            folder = self.folder(name)
            for v in removed:
                (folder / f"{v}.json").unlink(missing_ok=True)
            gone = {str(v) for v in removed}
            for entry in os.listdir(folder) if removed else ():  # their pictures go with them
                v, _, suffix = entry.partition(".")
                if v in gone and ATTACHMENT_RE.match(suffix):
                    (folder / entry).unlink(missing_ok=True)
            if removed:
                _fsync_dir(folder)
        return PruneReport(removed, dict(sorted(kept.items())))


def some_versions(versions: list[int], limit: int = 20) -> str:
    """A version list for a message, capped: a store can hold thousands."""
    if len(versions) <= limit:
        return str(versions)
    return f"{versions[:3]} ... {versions[-(limit - 3):]} ({len(versions)} in all)"


def _labels_text(labels: dict) -> str:
    return json.dumps(labels, indent=2, sort_keys=True) + "\n"


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
