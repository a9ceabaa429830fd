"""The web pages and their pictures, in-process: served from the package, drawn once per
version and kept, bad parameters refused."""

from __future__ import annotations

import time

import pytest

from service.pictures import DrawingSlot, PictureCache

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def pictures(app, tmp_path):
    """The app's picture cache in a folder of this test's own, one drawing at a time."""
    cache = PictureCache(slot=DrawingSlot(tmp_path / "drawing.lock"), folder=tmp_path / "pictures")
    app.extensions["tinymlp.pictures"] = cache
    return cache


def fetch(client, path, timeout=20.0):
    """GET a picture as the pages do: while it is drawn (429), wait as told and ask again."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(path)
        if r.status_code != 429 or time.monotonic() > deadline:
            return r
        assert r.headers["Retry-After"] == "1" and "drawn" in r.json["message"]
        time.sleep(0.05)


@pytest.mark.parametrize("path", ["/", "/ui/models/red", "/ui/static/index.js", "/ui/static/model.js",
                                  "/ui/static/style.css", "/ui/static/common.js"])
def test_pages_and_assets_are_served_by_the_service(client, path):
    with client.get(path) as r:  # a file response: closed when read
        assert r.status_code == 200 and r.data
        if path == "/" or path.startswith("/ui/models"):
            assert b"<html" in r.data and b"http" not in r.data  # no CDN: every asset is ours


def test_pictures_are_drawn_once_per_version(client, pictures):
    for _ in range(2):
        curve = fetch(client, "/ui/models/red/versions/1/curve.png")
        regions = fetch(client, "/ui/models/red/versions/1/regions.png?b=90")
        assert curve.status_code == regions.status_code == 200
        assert curve.data.startswith(PNG) and regions.data.startswith(PNG)
    assert pictures.draws == 2
    assert regions.headers["X-Regions-Axes"] == "r:0:255,g:0:255" and regions.headers["X-Regions-Fixed"] == "b=90"
    assert regions.headers["X-Regions-Legend"].startswith("red=#") and float(regions.headers["X-Regions-Agreement"])
    assert fetch(client, "/ui/models/quadrant/versions/1/regions.png").data.startswith(PNG)


@pytest.mark.parametrize(("path", "status", "fragment"), [
    ("/ui/models/nope", 404, "No model named"),
    ("/ui/models/red/versions/9/curve.png", 404, "has no version 9"),
    ("/ui/models/red/versions/1/regions.png?b=300", 422, "within 0..255"),
    ("/ui/models/red/versions/1/regions.png?b=blue", 422, "must be a number"),
    ("/ui/models/red/versions/1/regions.png?z=1", 422, "unknown parameter"),
    ("/ui/models/house_prices/versions/1/regions.png", 404, "regression task"),
    ("/ui/models/iris/versions/1/regions.png", 404, "a plane needs"),
])
def test_bad_picture_requests(client, path, status, fragment):
    r = client.get(path)
    assert r.status_code == status and fragment in r.json["message"], r.json


def test_a_request_never_waits_for_a_drawing_and_one_is_drawn_at_a_time(client, pictures):
    other_worker = DrawingSlot(pictures.slot.path)  # the same lock file, its own open file
    release = other_worker.try_take()  # another worker is drawing
    busy = client.get("/ui/models/red/versions/1/regions.png?b=10")
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "1" and "Another picture" in busy.json["message"]
    release()
    first = client.get("/ui/models/red/versions/1/regions.png?b=10")
    assert first.status_code == 429 and "being drawn" in first.json["message"]  # drawn meanwhile, not waited for
    assert fetch(client, "/ui/models/red/versions/1/regions.png?b=10").data.startswith(PNG)
    time.sleep(1)  # past the pause that follows a drawing
    release = other_worker.try_take()
    assert release is not None
    assert fetch(client, "/ui/models/red/versions/1/regions.png?b=10", timeout=0).status_code == 200  # kept
    release()


def test_drawing_takes_at_most_a_quarter_of_the_time(tmp_path):
    slot = DrawingSlot(tmp_path / "lock")
    release = slot.try_take()
    time.sleep(0.2)
    release()  # a drawing of 0.2 s: the next may start 0.6 s later
    assert slot.try_take() is None
    time.sleep(0.7)
    assert slot.try_take() is not None
