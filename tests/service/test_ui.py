"""The web pages and the pictures they show, in-process: pages and assets served from the
package; a version's pictures served as the files its publisher drew into the store, with
the record the pages read; a picture not there is a 404 saying how to draw it; the service
never draws (it imports nothing of the trainer)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import pytest

from core.pictures import PictureSet
from core.store import ModelStore
from harness.processes import ROOT

PNG = b"\x89PNG\r\n\x1a\n"
STATIC = ["index.js", "model.js", "common.js", "pictures.js", "curve.js", "panel-versions.js", "panel-pictures.js",
          "panel-training.js", "panel-rollout.js", "panel-live.js", "panel-drift.js", "style.css"]


@pytest.mark.parametrize("path", ["/", "/ui/models/red", *(f"/ui/static/{f}" for f in STATIC)])
def test_pages_and_assets_are_served_by_the_service(client, path):
    with client.get(path) as r:  # a file response: closed when read
        assert r.status_code == 200 and r.data
        if path == "/" or path.startswith("/ui/models"):
            assert b"<html" in r.data and b"http" not in r.data  # no CDN: every asset is ours


def test_every_module_a_page_imports_is_served():
    """The pages are ES modules: one that imports a file not in static/ breaks the page."""
    import re

    static = ROOT / "service" / "static"
    for page in static.glob("*.js"):
        for target in re.findall(r'from "\./([^"]+)"', page.read_text()):
            assert (static / target).is_file(), f"{page.name} imports {target}, which is not in service/static"


def test_the_favicon_is_an_icon_of_our_own(client):
    with client.get("/favicon.ico") as r:
        assert r.status_code == 200 and r.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
        reserved, kind, count = struct.unpack("<HHH", r.data[:6])
        assert (reserved, kind) == (0, 1) and count >= 1  # an ICO file
        width, height, *_, size, offset = struct.unpack("<BBBBHHII", r.data[6:22])
        assert (width, height) == (16, 16) and r.data[offset:offset + 8] == PNG and offset + size <= len(r.data)


def test_the_pictures_of_a_version_are_the_files_its_publisher_drew(client, store):
    r = client.get("/ui/models/red/versions/1/pictures.json")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-cache" and r.headers["ETag"]
    record = r.json
    kinds = [p["kind"] for p in record["pictures"]]
    assert kinds[0] == "curve" and kinds[1:] == [f"regions-b{b}" for b in (*range(0, 256, 16), 255)]
    assert record["missing"] == []
    for p in record["pictures"]:
        with client.get(p["url"]) as picture:
            assert picture.status_code == 200 and picture.mimetype == "image/png"
            assert picture.data == store.attachment_path("red", 1, f"{p['kind']}.png").read_bytes()
            assert struct.unpack(">II", picture.data[16:24]) == (p["width"], p["height"])
            assert "max-age=86400" in picture.headers["Cache-Control"] and picture.headers["ETag"]
            assert picture.headers["X-Content-Type-Options"] == "nosniff"
    slice64 = next(p for p in record["pictures"] if p["kind"] == "regions-b64")["regions"]
    assert slice64["x"] == {"feature": "r", "low": 0, "high": 255} and slice64["y"]["feature"] == "g"
    assert slice64["fixed"] == {"b": 64} and [lab for lab, _ in slice64["legend"]] == ["red", "not_red"]
    assert 0.5 < slice64["agreement"] <= 1


def test_a_picture_asked_again_is_not_sent_again(client):
    with client.get("/ui/models/quadrant/versions/1/regions.png") as first:
        assert first.status_code == 200
    with client.get("/ui/models/quadrant/versions/1/regions.png",
                    headers={"If-None-Match": first.headers["ETag"]}) as again:
        assert again.status_code == 304 and not again.data
    record = client.get("/ui/models/quadrant/versions/1/pictures.json")
    assert client.get("/ui/models/quadrant/versions/1/pictures.json",
                      headers={"If-None-Match": record.headers["ETag"]}).status_code == 304


def test_each_model_gets_the_pictures_its_page_offers(client):
    def kinds(name):
        return [p["kind"] for p in client.get(f"/ui/models/{name}/versions/1/pictures.json").json["pictures"]]

    for plane in ("xor", "sine", "checkerboard", "quadrant"):
        assert kinds(plane) == ["curve", "regions"]
    assert kinds("iris") == kinds("house_prices") == ["curve"]  # no plane of two inputs; a regressor
    iris = client.get("/ui/models/iris/versions/1/pictures.json").json["example"]
    assert iris["input"] == [5.1, 3.5, 1.4, 0.2] and "setosa" in iris["note"]  # a flower, not 10 cm of each


def _unpicture(store: ModelStore, name: str, version: int) -> None:
    """The version as a publisher from before this change left it: no pictures, no record."""
    for suffix in store.attachments(name, version):
        store.attachment_path(name, version, suffix).unlink()


def test_a_version_without_pictures_says_how_to_draw_them(client, store):
    _unpicture(store, "xor", 1)
    for path in ("/ui/models/xor/versions/1/pictures.json", "/ui/models/xor/versions/1/curve.png"):
        r = client.get(path)
        assert r.status_code == 404 and r.headers["Cache-Control"] == "no-store"
        assert "python -m trainer plot xor --version 1" in r.json["message"], r.json


@pytest.mark.parametrize(("path", "fragment"), [
    ("/ui/models/nope/versions/1/curve.png", "No model named 'nope'"),
    ("/ui/models/nope/versions/1/pictures.json", "No model named 'nope'"),
    ("/ui/models/Bad..name/versions/1/curve.png", "No model named"),
    ("/ui/models/red/versions/9/curve.png", "has no version 9"),
    ("/ui/models/red/versions/9/pictures.json", "has no version 9"),
    ("/ui/models/red/versions/1/regions.png", "its pictures: curve, regions-b0, regions-b16"),
    ("/ui/models/red/versions/1/regions-b7.png", "no picture 'regions-b7'"),
    ("/ui/models/red/versions/1/Curve.png", "no picture 'Curve'"),
    ("/ui/models/house_prices/versions/1/regions.png", "its pictures: curve."),
])
def test_pictures_that_do_not_exist(client, path, fragment):
    r = client.get(path)
    assert r.status_code == 404 and fragment in r.json["message"], r.json


def test_a_picture_not_drawn_says_why(client, store):
    record = json.loads(store.attachment_path("quadrant", 1, "pictures.json").read_text())
    record["pictures"] = [p for p in record["pictures"] if p["kind"] != "curve"]
    record["missing"] = [{"kind": "curve", "reason": "the training curve was not drawn: pictures need matplotlib"}]
    store.write_attachment("quadrant", 1, "pictures.json", json.dumps(record).encode())
    store.attachment_path("quadrant", 1, "curve.png").unlink()
    r = client.get("/ui/models/quadrant/versions/1/curve.png")
    assert r.status_code == 404 and "pictures need matplotlib" in r.json["message"]


def test_planted_files_are_not_served(client, store, tmp_path):
    """A link (even to a real picture) or a FIFO in place of a picture is refused, unread;
    a record that is not one is refused saying so."""
    outside = tmp_path / "outside.png"
    outside.write_bytes(PNG + b"secret")
    curve = store.attachment_path("red", 1, "curve.png")
    curve.unlink()
    os.symlink(outside, curve)
    fifo = store.attachment_path("red", 1, "regions-b0.png")
    fifo.unlink()
    os.mkfifo(fifo)
    for kind in ("curve", "regions-b0"):
        r = client.get(f"/ui/models/red/versions/1/{kind}.png")  # a FIFO would hang a reader that waited
        assert r.status_code == 404 and "python -m trainer plot red --version 1" in r.json["message"]
        assert b"secret" not in r.data
    store.write_attachment("xor", 1, "pictures.json", b'{"format": 1, "version": "one"}')
    r = client.get("/ui/models/xor/versions/1/pictures.json")
    assert r.status_code == 404 and "cannot be read (version must be" in r.json["message"]


def test_a_record_is_checked_field_by_field():
    doc = {"format": 1, "name": "red", "version": 1, "drawn_at": "now", "drawn_by": "test",
           "pictures": [{"kind": "regions", "title": "t", "width": 200, "height": 200,
                         "regions": {"x": {"feature": "r", "low": 0, "high": 255},
                                     "y": {"feature": "g", "low": 0, "high": 255}, "fixed": {"b": 64},
                                     "legend": [["red", "#e4572e"]], "agreement": 0.99}}],
           "missing": [], "example": {"input": [1, 2.5], "note": "n"}}
    assert PictureSet.from_dict(doc).to_dict() == {**doc, "pictures": [{**doc["pictures"][0], "regions": {
        **doc["pictures"][0]["regions"], "x": {"feature": "r", "low": 0.0, "high": 255.0},
        "y": {"feature": "g", "low": 0.0, "high": 255.0}, "fixed": {"b": 64.0}}}],
        "example": {"input": [1.0, 2.5], "note": "n"}}
    for bad, fragment in [
        ({"pictures": [{**doc["pictures"][0], "kind": "../x"}]}, "kind"),
        ({"pictures": [{**doc["pictures"][0], "width": 0}]}, "width and height"),
        ({"pictures": [{**doc["pictures"][0], "regions": {**doc["pictures"][0]["regions"],
                                                          "legend": [["red", "red; x"]]}}]}, "#rrggbb"),
        ({"example": {"input": [float("nan")], "note": ""}}, "finite"),
        ({"pictures": "curve"}, "pictures must be a list"),
        ({"format": 2}, "format must be 1"),
    ]:
        with pytest.raises(ValueError, match=fragment):
            PictureSet.from_dict({**doc, **bad})


def test_the_service_never_draws(store_dir):
    """Serving every page and picture loads nothing of the trainer (nor matplotlib)."""
    code = f"""
import sys
from service import create_app
from service.config import Config
app = create_app(Config(models_dir={str(store_dir)!r}, state_dir={str(store_dir.parent / 'state')!r},
                        start_reloader=False, log_level="WARNING"))
c = app.test_client()
for path in ["/", "/ui/models/red", "/ui/models/red/versions/1/pictures.json", "/ui/models/red/versions/1/curve.png",
             "/ui/models/red/versions/1/regions-b64.png", "/ui/models/xor/versions/1/regions.png", "/favicon.ico"]:
    assert c.get(path).status_code == 200, path
print(sorted(m for m in sys.modules if m.split(".")[0] in ("trainer", "matplotlib")))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("content", [b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe", b'{"format": 1, "pictures": 5}'])
def test_a_malformed_picture_record_is_a_404_saying_so_never_a_500(client, store_dir, content):
    (store_dir / "red" / "1.pictures.json").write_bytes(content)
    for path in ("pictures.json", "nope.png"):  # the record is read; a picture's own file is not
        with client.get(f"/ui/models/red/versions/1/{path}") as r:
            assert r.status_code == 404 and r.json["code"] == 404, (path, r.status_code)
