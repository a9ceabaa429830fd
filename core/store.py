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
- A version is a whole number from 1 to ``MAX_VERSION`` (``VERSION_PATTERN``): one rule for
  the file names listed, the numbers published, the versions labels name and the URLs.
- Reading is guarded, the same way for every file of the store (``_open_file``): only a
  regular file is opened (a FIFO, socket, device or folder is refused unopened; one reached
  through a symlink is opened without blocking and refused before a byte is read), one that
  resolves outside the store is refused, and so is one larger than its limit
  (``max_model_bytes`` for versions). What is read is checked whole: anything malformed is
  a refusal (``mlp.ModelFileError``, ``StoreError``), never another exception.
- The store owns its paths: whoever watches a model for changes keeps the ``stamps`` of its
  files and asks ``changed``; a new per-model file goes into ``MODEL_FILES``.
- ``rollout.json`` holds the model's running (or last) rollout (``core.rollouts``): read and
  written whole through ``read_model_file`` / ``write_model_file``, changed only under
  ``model_lock`` (an exclusive lock on ``<name>/rollout.lock``), so of two writers that check
  the record and then change it, the second sees what the first wrote.
- Beside a version lie its attachments, ``<name>/<version>.<kind>.<png|json>``: the pictures
  drawn when it was published and their record (``core.pictures``). They are replaced
  atomically, read only as regular files (never through a symbolic link), and removed with
  their version.
"""

from __future__ import annotations

import fcntl
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

import orjson

import mlp
from core import settings
from core.records import ModelVersion, VersionInfo

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LABEL_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
VERSION_PATTERN = r"[1-9][0-9]{0,8}"  # a version, wherever it is written: 1 to MAX_VERSION, no leading zero
MAX_VERSION = 999_999_999
VERSION_FILE_RE = re.compile(rf"^({VERSION_PATTERN})\.json$")
ATTACHMENT_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}\.(png|json)$")  # after "<version>.": never "json" alone
MAX_ATTACHMENT_BYTES = 8 * 1024 * 1024  # a picture is some kilobytes; anything this large is not one
LABELS_FILE = "labels.json"
ROLLOUT_FILE = "rollout.json"  # the running or last rollout (core.rollouts)
MODEL_FILES = (LABELS_FILE, ROLLOUT_FILE)  # files of a model beside its versions; a change to one is a change to it
LABELS_MAX_BYTES = 1024 * 1024
LOCK_FILE = "rollout.lock"  # model_lock's: never read, never removed
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


Stamps = dict[str, Stamp | None]  # what ``changed`` compares, keyed by the store (opaque to others)


@dataclass(frozen=True)
class Listing:
    """One model folder as it is on disk now, nothing parsed but labels.json."""

    name: str
    folder: Stamp
    versions: dict[int, Stamp]  # every version file present
    labels: dict[str, int]
    labels_error: str | None = None  # labels.json is unreadable or malformed (``labels`` is then {})
    files: Stamps = field(default_factory=dict)  # each of MODEL_FILES (None: absent), stamped before it was read

    def stamps(self, versions: Iterable[int]) -> Stamps:
        """The stamps to hand to ``ModelStore.changed`` later: the folder, the model's own files
        and the given versions' files, as they were when this listing was taken."""
        return {".": self.folder, **self.files, **{version_file(v): self.versions.get(v) for v in versions}}


@dataclass(frozen=True)
class PruneReport:
    removed: list[int] = field(default_factory=list)
    kept: dict[int, str] = field(default_factory=dict)  # version -> why it stays


def is_version(value) -> bool:
    """Whether ``value`` is a version number (``VERSION_PATTERN`` as a number)."""
    return type(value) is int and 1 <= value <= MAX_VERSION


def version_file(version: int) -> str:
    """The file name of a version."""
    return f"{int(version)}.json"


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
        return self.folder(name) / version_file(version)

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
                m = VERSION_FILE_RE.match(e.name)
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
        files = {f: Stamp.at(folder / f) for f in MODEL_FILES}
        labels, labels_error = {}, None
        try:
            labels = self.labels(name)
        except (OSError, StoreError) as e:
            labels_error = getattr(e, "summary", None) or f"cannot read {LABELS_FILE}: {e.strerror}"
        return Listing(name, folder_stamp, versions, labels, labels_error, files)

    def stamp(self, name: str, version: int) -> Stamp | None:
        return Stamp.at(self.path(name, version))

    def stamps(self, name: str, versions: Iterable[int] = ()) -> Stamps:
        """The folder's, its own files' and the given versions' stamps now (see ``changed``)."""
        folder = self.folder(name)
        return {key: Stamp.at(folder / key) for key in (".", *MODEL_FILES, *map(version_file, versions))}

    def changed(self, name: str, stamps: Stamps) -> bool:
        """Whether anything stamped in ``stamps`` (``Listing.stamps``) is different now: a file
        added, removed or renamed changes the folder, a rewrite in place changes the file."""
        folder = self.folder(name)
        return any(Stamp.at(folder / key) != then for key, then in stamps.items())

    def labels(self, name: str) -> dict[str, int]:
        """labels.json as {label: version}; a missing file is {}, one that cannot be read or is
        malformed a StoreError (FileRefused if it is not a regular file, or resolves outside)."""
        raw = self.read_model_file(name, LABELS_FILE)
        if raw is None:
            return {}
        path = self.folder(name) / LABELS_FILE
        try:
            data = orjson.loads(raw)  # strict, and a nesting limit instead of a RecursionError
        except orjson.JSONDecodeError as e:
            raise StoreError(f"{path} is not valid JSON ({e}); fix or delete it",
                             f"{LABELS_FILE} is not valid JSON; fix or delete it") from None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and LABEL_RE.match(k) and is_version(v) for k, v in data.items()
        ):
            message = (f"{LABELS_FILE} must map label names to version numbers (1 to {MAX_VERSION}); "
                       "fix or delete it")
            raise StoreError(f"{path}: {message}", message)
        return data

    def read_model_file(self, name: str, file: str, limit: int = LABELS_MAX_BYTES) -> bytes | None:
        """The bytes of one of ``MODEL_FILES`` (None if absent), read as labels.json is: only a
        regular file inside the store, at most ``limit`` bytes (else FileRefused; StoreError if it
        cannot be read)."""
        if file not in MODEL_FILES:
            raise StoreError(f"{file!r} is not a file of a model ({', '.join(MODEL_FILES)})")
        path = self.folder(name) / file
        try:
            f, _ = self._open_file(path, limit, file)
        except FileNotFoundError:
            return None
        except FileRefused as e:
            raise FileRefused(str(e), f"{file} is refused: {e.summary}; fix or delete it") from None
        try:
            with f:
                return f.read()
        except OSError as e:
            raise StoreError(f"cannot read {path}: {e.strerror}", f"cannot read {file}: {e.strerror}") from None

    def write_model_file(self, name: str, file: str, text: str) -> None:
        """Replace one of ``MODEL_FILES`` atomically (a reader sees the old file or the new one)."""
        if file not in MODEL_FILES:
            raise StoreError(f"{file!r} is not a file of a model ({', '.join(MODEL_FILES)})")
        folder = self.folder(name)
        tmp = _write_temp(folder, text)
        os.replace(tmp, folder / file)
        _fsync_dir(folder)

    @contextmanager
    def model_lock(self, name: str) -> Iterator[None]:
        """Hold an exclusive lock on the model (``<name>/rollout.lock``, flock: between processes
        and, on a network file system that supports locks, between hosts) for the block."""
        folder = self.folder(name)
        if not folder.is_dir():
            raise NotFound(f"no model named {name!r}; models: {', '.join(self.names()) or 'none'}")
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _open_file(self, path: Path, limit: int, what: str):
        """The file at ``path`` open to read (a binary file object, and its fstat), or FileRefused:
        only a regular file (anything else is refused unopened; one behind a symlink is opened
        without blocking, so a FIFO with no writer cannot hang the reader, and refused before a
        byte is read), inside the store, at most ``limit`` bytes. FileNotFoundError passes."""
        st = os.lstat(path)
        linked = stat.S_ISLNK(st.st_mode) or path.parent.is_symlink()
        if linked and not self._inside(path):
            raise FileRefused(f"{path} resolves outside the model store {self.root}; refused",
                              "it resolves outside the model store")
        if not linked and not stat.S_ISREG(st.st_mode):
            raise FileRefused(f"{path} is not a regular file; refused unopened", "it is not a regular file")
        # Not a link when looked at: never followed as one when opened either (a file swapped for
        # a link in between is refused, not followed past the inside-the-store check).
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY | (0 if linked else os.O_NOFOLLOW)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            raise
        except OSError as e:
            raise FileRefused(f"{path} cannot be opened: {e.strerror}", f"it cannot be opened ({e.strerror})") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise FileRefused(f"{path} is not a regular file; refused unread", "it is not a regular file")
        if st.st_size > limit:
            os.close(fd)
            setting = " (TINYMLP_MAX_MODEL_BYTES)" if what == "model" else ""
            raise FileRefused(f"{path} is {st.st_size:,} bytes, more than the {limit:,} allowed{setting}; "
                              "refused unread", f"it is {st.st_size:,} bytes, more than the {limit:,} allowed")
        return os.fdopen(fd, "rb"), st

    def open(self, name: str, version: int | None = None, label: str | None = None, *,
             with_optimizer: bool = True) -> ModelVersion:
        """A version with its metadata, by number, by label, or (neither) the served one.
        Raises NotFound, NoServableVersion, FileRefused or mlp.ModelFileError.
        ``with_optimizer=False`` leaves out the optimizer state, for a reader that only predicts."""
        if version is None:
            version = self.resolve(name, label)
        path = self.path(name, version) if is_version(version) else None
        try:
            if path is None:
                raise FileNotFoundError  # a number past the pattern names no version, whatever files there are
            f, _ = self._open_file(path, self.max_model_bytes, "model")
        except FileNotFoundError:
            if not self.versions(name):
                raise NotFound(f"no model named {name!r}; models: {', '.join(self.names()) or 'none'}") from None
            raise NotFound(f"model {name!r} has no version {version}; versions: "
                           f"{some_versions(self.versions(name))}") from None
        with f:
            net = mlp.load_file(f, str(path), with_optimizer=with_optimizer)
        if net.metadata.get("name") != name or net.metadata.get("version") != version:
            raise mlp.ModelFileError(
                f"{path}: the file says it is {str(net.metadata.get('name'))[:64]!r} version "
                f"{str(net.metadata.get('version'))[:20]}, not {name!r} version {version}",
                "it names another model or version than its path",
            )
        try:
            info = VersionInfo.of(net)
        except mlp.ModelFileError as e:
            raise mlp.ModelFileError(f"{path}: {e}", e.summary) from None
        return ModelVersion(info, net)

    def load(self, name: str, version: int | None = None, label: str | None = None) -> mlp.Network:
        """The network of a version (see ``open``)."""
        return self.open(name, version, label).network

    def loads(self, name: str, version: int) -> bool:
        """Whether the version loads, as a server loads it (its optimizer state left unread)."""
        try:
            self.open(name, version, with_optimizer=False)
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
            if version > MAX_VERSION:
                raise StoreError(f"model {name!r} has reached the largest version number, {MAX_VERSION}; "
                                 "publish under a new name, or remove the versions numbered past those you meant "
                                 "to publish")
            text = mlp.dumps(network, **{**metadata, "name": name, "version": version})
            if len(text) > self.max_model_bytes:
                raise StoreError(f"model {name!r}: the file would be {len(text):,} bytes, more than the "
                                 f"{self.max_model_bytes:,} a reader takes (TINYMLP_MAX_MODEL_BYTES); not published")
            tmp = _write_temp(folder, text)
            final = folder / version_file(version)
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
        if not is_version(version) or version not in self.versions(name):
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
        for v, why in self._rollout_versions(name).items():
            if v in versions:
                kept.setdefault(v, why)
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
                (folder / version_file(v)).unlink(missing_ok=True)
            gone = {str(v) for v in removed}
            for entry in os.listdir(folder) if removed else ():  # their pictures go with them
                v, _, suffix = entry.partition(".")
                if v in gone and ATTACHMENT_RE.match(suffix):
                    (folder / entry).unlink(missing_ok=True)
            if removed:
                _fsync_dir(folder)
        return PruneReport(removed, dict(sorted(kept.items())))


    def _rollout_versions(self, name: str) -> dict[int, str]:
        """The versions a running rollout compares (pruning them would end it); none if the
        record is unreadable (it then routes nothing)."""
        from core.rollouts.records import RecordError, Rollout  # the record's module reads this store

        try:
            rollout = Rollout.from_bytes(self.read_model_file(name, ROLLOUT_FILE))
        except (StoreError, RecordError):
            return {}
        if rollout is None or not rollout.running:
            return {}
        return {rollout.stable: "the stable of a running rollout",
                rollout.candidate: "the candidate of a running rollout"}


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
