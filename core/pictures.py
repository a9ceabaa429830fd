"""What the web pages show of a version, kept beside it in the store: its pictures and the
facts around them.

A version's pictures are drawn once, by the process that publishes it (``trainer.pictures``),
and written as ``<name>/<version>.<kind>.png`` (``ModelStore.attachment_path``), with one
record, ``<name>/<version>.pictures.json``, written last: the ``PictureSet``. It lists the
pictures drawn, the axes and legend of each decision-region map (a bare map, one pixel a
grid point: the page draws axes and legend around it), the pictures that could not be drawn
and why, and a real input the pages start their fields at. The service reads the record
and the files and serves them; it never draws.

A record is read from a file, so ``PictureSet.from_dict`` checks every field and refuses,
with ``ValueError`` naming the field, whatever does not fit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import orjson

FORMAT = 1
RECORD = "pictures.json"  # <version>.pictures.json
KIND_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")  # curve, regions, regions-b64...
COLOUR_RE = re.compile(r"^#[0-9a-f]{6}$")
MAX_LIST = 256  # more pictures, legend entries or example values than any task has: a broken record


def read(store, name: str, version: int) -> PictureSet:
    """A version's record as the store holds it: StoreError if absent or refused, ValueError
    (naming the field) for anything that does not parse or fit, deep nesting included."""
    f, _ = store.open_attachment(name, version, RECORD)
    with f:
        return PictureSet.from_dict(orjson.loads(f.read()))


def png_suffix(kind: str) -> str:
    """The file a picture of ``kind`` is kept in, after ``<version>.``."""
    return f"{check_kind(kind)}.png"


def check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not KIND_RE.match(kind):
        raise ValueError(f"a picture's kind is 1-40 lowercase letters, digits or '-', starting with a letter; "
                         f"got {str(kind)[:40]!r}")
    return kind


@dataclass(frozen=True)
class Axis:
    feature: str
    low: float
    high: float


@dataclass(frozen=True)
class Regions:
    """Where a decision-region map lies and how to read it: x grows to the right, y upwards."""

    x: Axis
    y: Axis
    fixed: dict[str, float]  # the other features' values (red: the blue)
    legend: tuple[tuple[str, str], ...]  # (class label, "#rrggbb") in the task's label order
    agreement: float  # the share of the plane where the model and the true boundary agree


@dataclass(frozen=True)
class Picture:
    kind: str
    title: str  # what it shows, in words (the page's alt text)
    width: int
    height: int
    regions: Regions | None = None


@dataclass(frozen=True)
class Missing:
    kind: str
    reason: str  # why it was not drawn, and what to do


@dataclass(frozen=True)
class Example:
    """A real input to start the pages' fields at (iris: a flower of the table)."""

    input: tuple[float, ...]
    note: str


@dataclass(frozen=True)
class PictureSet:
    name: str
    version: int
    drawn_at: str
    drawn_by: str
    pictures: tuple[Picture, ...] = ()
    missing: tuple[Missing, ...] = ()
    example: Example | None = None
    extra: dict = field(default_factory=dict, compare=False)  # room for later fields, kept as read

    def picture(self, kind: str) -> Picture | None:
        return next((p for p in self.pictures if p.kind == kind), None)

    def to_dict(self) -> dict:
        def regions(r: Regions | None):
            if r is None:
                return None
            return {"x": vars(r.x), "y": vars(r.y), "fixed": dict(r.fixed),
                    "legend": [list(pair) for pair in r.legend], "agreement": r.agreement}

        return {
            "format": FORMAT, "name": self.name, "version": self.version,
            "drawn_at": self.drawn_at, "drawn_by": self.drawn_by,
            "pictures": [{"kind": p.kind, "title": p.title, "width": p.width, "height": p.height,
                          "regions": regions(p.regions)} for p in self.pictures],
            "missing": [{"kind": m.kind, "reason": m.reason} for m in self.missing],
            "example": None if self.example is None else {"input": list(self.example.input),
                                                          "note": self.example.note},
        }

    @classmethod
    def from_dict(cls, doc) -> PictureSet:
        """A record as read from its file; ValueError naming the first field that does not fit."""
        d = _dict(doc, "the record")
        if d.get("format") != FORMAT:
            raise ValueError(f"format must be {FORMAT}, got {str(d.get('format'))[:20]!r}")
        version = d.get("version")
        if type(version) is not int or version < 1:
            raise ValueError("version must be a positive whole number")
        pictures = tuple(_picture(p, i) for i, p in enumerate(_list(d.get("pictures"), "pictures")))
        missing = tuple(Missing(check_kind(_dict(m, f"missing[{i}]").get("kind")),
                                _text(m.get("reason"), f"missing[{i}].reason", 2000))
                        for i, m in enumerate(_list(d.get("missing", []), "missing")))
        example = None
        if d.get("example") is not None:
            e = _dict(d["example"], "example")
            example = Example(tuple(_number(v, f"example.input[{i}]")
                                    for i, v in enumerate(_list(e.get("input"), "example.input"))),
                              _text(e.get("note", ""), "example.note", 200))
        known = {"format", "name", "version", "drawn_at", "drawn_by", "pictures", "missing", "example"}
        return cls(_text(d.get("name"), "name", 64), version, _text(d.get("drawn_at"), "drawn_at", 64),
                   _text(d.get("drawn_by"), "drawn_by", 200), pictures, missing, example,
                   {k: v for k, v in d.items() if k not in known})


def _picture(doc, i: int) -> Picture:
    p = _dict(doc, f"pictures[{i}]")
    where = f"pictures[{i}]"
    width, height = p.get("width"), p.get("height")
    if not all(type(n) is int and 0 < n <= 10_000 for n in (width, height)):
        raise ValueError(f"{where}: width and height must be whole numbers 1..10000")
    regions = None
    if p.get("regions") is not None:
        r = _dict(p["regions"], f"{where}.regions")
        legend = []
        for j, pair in enumerate(_list(r.get("legend"), f"{where}.regions.legend")):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ValueError(f"{where}.regions.legend[{j}] must be [label, colour]")
            label, colour = _text(pair[0], f"{where}.regions.legend[{j}]", 100), pair[1]
            if not isinstance(colour, str) or not COLOUR_RE.match(colour):
                raise ValueError(f"{where}.regions.legend[{j}]: the colour must be #rrggbb")
            legend.append((label, colour))
        fixed = _dict(r.get("fixed", {}), f"{where}.regions.fixed")
        agreement = _number(r.get("agreement"), f"{where}.regions.agreement")
        if not 0 <= agreement <= 1:
            raise ValueError(f"{where}.regions.agreement must be within 0..1")
        regions = Regions(_axis(r.get("x"), f"{where}.regions.x"), _axis(r.get("y"), f"{where}.regions.y"),
                          {_text(k, f"{where}.regions.fixed", 100): _number(v, f"{where}.regions.fixed.{k}")
                           for k, v in fixed.items()},
                          tuple(legend), agreement)
    return Picture(check_kind(p.get("kind")), _text(p.get("title"), f"{where}.title", 300), width, height, regions)


def _axis(doc, where: str) -> Axis:
    a = _dict(doc, where)
    return Axis(_text(a.get("feature"), f"{where}.feature", 100), _number(a.get("low"), f"{where}.low"),
                _number(a.get("high"), f"{where}.high"))


def _dict(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object")
    return value


def _list(value, where: str) -> list:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise ValueError(f"{where} must be a list of at most {MAX_LIST} entries")
    return value


def _text(value, where: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{where} must be a string of at most {limit} characters")
    return value


def _number(value, where: str) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number")
    return float(value)
