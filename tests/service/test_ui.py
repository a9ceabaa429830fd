"""The web pages and their pictures, in-process: served from the package, drawn once per
version and kept, bad parameters refused."""

from __future__ import annotations

import pytest

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("path", ["/", "/ui/models/red", "/ui/static/index.js", "/ui/static/model.js",
                                  "/ui/static/style.css", "/ui/static/common.js"])
def test_pages_and_assets_are_served_by_the_service(client, path):
    with client.get(path) as r:  # a file response: closed when read
        assert r.status_code == 200 and r.data
        if path == "/" or path.startswith("/ui/models"):
            assert b"<html" in r.data and b"http" not in r.data  # no CDN: every asset is ours


def test_pictures_are_drawn_once_per_version(client, app):
    for _ in range(2):
        curve = client.get("/ui/models/red/versions/1/curve.png")
        regions = client.get("/ui/models/red/versions/1/regions.png?b=90")
        assert curve.status_code == regions.status_code == 200
        assert curve.data.startswith(PNG) and regions.data.startswith(PNG)
    assert app.extensions["tinymlp.pictures"].draws == 2
    assert client.get("/ui/models/quadrant/versions/1/regions.png").data.startswith(PNG)


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
