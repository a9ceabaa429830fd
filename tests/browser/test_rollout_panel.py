"""The dashboard's rollout panel in real Chromium (Debian's, driven by Playwright) against a real
gunicorn: it shows a running rollout, its figures follow the requests as they come, and it
says how the rollout ended. Skipped without /usr/bin/chromium, as the other browser tests."""

from __future__ import annotations

import shutil

import pytest

from core.store import ModelStore
from harness.processes import Gunicorn
from harness.stores import publish_nudged
from tests.browser.test_pages import browser, page, pytestmark  # noqa: F401 - a fresh page; skipped alike
from tests.e2e.conftest import call

TOKEN = "panel-token-0123456789abcd"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def site(seeded_store_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("rollout-panel")
    shutil.copytree(seeded_store_dir, root / "models")
    publish_nudged(ModelStore(root / "models"), "red", 3.0, seed=1)  # v2: agrees on most rows
    env = {"TINYMLP_STATE_DIR": str(root / "state"), "TINYMLP_TRAIN_TOKEN": TOKEN, "TINYMLP_RELOAD_INTERVAL": "0.2"}
    with Gunicorn(root / "models", workers=2, log_path=root / "gunicorn.log", env=env) as server:
        yield server


def test_the_rollout_panel_follows_a_running_rollout_and_says_how_it_ended(site, page):  # noqa: F811
    from playwright.sync_api import expect

    page.goto(site.base + "/ui/models/red")
    expect(page.locator("#rollout-status")).to_have_text("No rollout yet.")
    expect(page.locator("#rollout-how")).to_be_visible()
    status, body = call(site.base, "PUT", "/models/red/rollout", {"candidate": 2, "mode": "shadow",
                                                                  "min_rows": 10**9}, AUTH)
    assert status == 201, body
    expect(page.locator("#rollout-status")).to_contain_text("running: shadow, v2 against v1", timeout=10_000)
    expect(page.locator("#rollout-compared")).to_have_text("0")
    for i in range(30):
        assert call(site.base, "POST", "/predict/red", {"inputs": [[i * 8, 255 - i * 8, 40]]})[0] == 200
    expect(page.locator("#rollout-compared")).to_have_text("30", timeout=10_000)  # asked again while it runs
    expect(page.locator("#rollout-requests")).to_have_text("stable 30, candidate 0")
    expect(page.locator("#rollout-agreement")).to_contain_text("of 30 rows")
    expect(page.locator("#rollout-latency-candidate")).to_contain_text("ms")
    assert call(site.base, "DELETE", "/models/red/rollout", headers=AUTH)[0] == 200
    expect(page.locator("#rollout-status")).to_contain_text("ended", timeout=10_000)
    expect(page.locator("#rollout-reason")).to_contain_text("the stable stays")
