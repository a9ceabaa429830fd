"""The web pages in real Chromium (Debian's, driven by Playwright; no browser download)
against a real gunicorn and job worker. Screenshots go to test-output/browser/.

Without /usr/bin/chromium these tests skip, saying so; .ci/run installs it and sets
TINYMLP_REQUIRE_BROWSER=1, which turns that skip into a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from core.store import ModelStore
from harness.processes import Gunicorn, TrainerWorker
from trainer import pipeline
from trainer.tasks import TASKS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run"]
SHOTS = Path(os.environ.get("TINYMLP_TEST_OUTPUT", Path(__file__).resolve().parents[2] / "test-output")) / "browser"
TOKEN = "browser-token-0123456789ab"
FEEDBACK_TOKEN = "browser-feedback-0123456789"

if CHROMIUM is None and os.environ.get("TINYMLP_REQUIRE_BROWSER"):
    raise RuntimeError("TINYMLP_REQUIRE_BROWSER is set but Debian's chromium is missing: apt-get install chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed: apt-get install chromium")


@pytest.fixture(scope="module")
def site(seeded_store_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(seeded_store_dir, root / "models")
    store = ModelStore(root / "models")
    red = TASKS["red"]
    pipeline.train_task(red, store, config=red.train.replace(epochs=15))  # a good red: version 2
    store.set_label("red", "default", 2)
    for suffix in store.attachments("sine", 1):  # sine as a publisher from before pictures left it
        store.attachment_path("sine", 1, suffix).unlink()
    env = {"TINYMLP_STATE_DIR": str(root / "state"), "TINYMLP_TRAIN_TOKEN": TOKEN,
           "TINYMLP_RELOAD_INTERVAL": "0.2", "TINYMLP_JOB_STALE_AFTER": "5", "TINYMLP_FEEDBACK_TOKEN": FEEDBACK_TOKEN}
    with Gunicorn(root / "models", workers=2, log_path=root / "gunicorn.log", env=env) as server, \
            TrainerWorker(root / "models", root / "state", log_path=root / "worker.log", env=env):
        yield server


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1100, "height": 900})  # a fresh profile each test
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, errors


def _pick(page, colour):
    page.locator("#colour").fill(colour)


def test_pick_red_then_blue(site, page):
    from playwright.sync_api import expect

    page.goto(site.base + "/")
    _pick(page, "#ff0000")
    expect(page.locator("#verdict")).to_have_text("red")
    expect(page.locator("#verdict-detail")).to_contain_text("version 2")
    expect(page.locator("#r")).to_have_value("255")
    _pick(page, "#0000ff")
    expect(page.locator("#verdict")).to_have_text("not red")
    expect(page.locator("#b")).to_have_value("255")


def test_sliders_many_colours_and_other_models(site, page):
    from playwright.sync_api import expect

    page.goto(site.base + "/")
    page.locator("#r").fill("0")
    page.locator("#b").fill("255")
    expect(page.locator("#verdict")).to_have_text("not red")
    page.locator("#triples").fill("255, 0, 0\n0, 0, 255\n250 10 10")
    page.get_by_role("button", name="Classify").click()
    rows = page.locator("#many-table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("red")
    expect(rows.nth(1)).to_contain_text("not red")
    page.locator("#triples").fill("255, 0")
    page.get_by_role("button", name="Classify").click()
    expect(page.locator("#many-error")).to_contain_text("Line 1")
    page.locator("#model").select_option("quadrant")
    expect(page.locator("#plane-box")).to_be_visible()
    page.locator("#f-x").fill("3")
    page.locator("#f-y").fill("-2")
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#other-verdict")).to_have_text("Q4")
    page.locator("#plane").click(position={"x": 50, "y": 40})  # top left: x < 0, y > 0
    expect(page.locator("#other-verdict")).to_have_text("Q2")
    page.locator("#model").select_option("house_prices")
    expect(page.locator("#plane-box")).to_be_hidden()
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#other-detail")).to_contain_text("house_prices version 1")


def test_every_control_has_a_label_and_the_keyboard_reaches_the_picker(site, page):
    page.goto(site.base + "/")
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.id)""")
    assert unlabelled == []
    page.keyboard.press("Tab")
    focused = [page.evaluate("document.activeElement.id || document.activeElement.textContent")]
    for _ in range(6):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id || document.activeElement.textContent"))
    assert "colour" in focused and "r" in focused


def _pictures_seen(page) -> list:
    """(url, status) of every picture and picture record the page asks for, as it asks."""
    seen = []
    page.on("response", lambda r: seen.append((r.url, r.status))
            if "/versions/" in r.url and r.url.endswith((".png", "pictures.json")) else None)
    return seen


EVERY_IMAGE_LOADED = """(least) => { const imgs = [...document.images];
    return imgs.length >= least && imgs.every((i) => i.complete && i.naturalWidth > 0); }"""


def test_red_dashboard_shows_every_picture_at_the_first_visit(site, page):
    """The curve and the region map, each loaded at its first request: no 429, no retry."""
    from playwright.sync_api import expect

    seen = _pictures_seen(page)
    page.goto(site.base + "/ui/models/red")
    expect(page.locator("#summary")).to_contain_text("serving version 2")
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    page.wait_for_function(EVERY_IMAGE_LOADED, arg=2)
    alts = page.evaluate("[...document.images].map((i) => i.alt)")
    assert alts == ["training curve of red version 2",
                    "red version 2: predicted regions over r and g at b = 64; black line: the true boundary"]
    expect(page.locator("#slice-value")).to_have_text("64")
    expect(page.locator("figcaption")).to_contain_text("of the plane agrees with it")
    assert seen and {status for _, status in seen} == {200}, seen
    # the slider offers exactly the blues drawn: 0, 16, ..., 240, 255
    assert page.locator("#slice").get_attribute("max") == "16"
    page.locator("#slice").fill("8")
    expect(page.locator("#slice-value")).to_have_text("128")
    expect(page.locator("img.map")).to_have_attribute("src", "/ui/models/red/versions/2/regions-b128.png")
    page.locator("#slice").fill("16")
    expect(page.locator("#slice-value")).to_have_text("255")
    page.wait_for_function(EVERY_IMAGE_LOADED, arg=2)
    page.get_by_role("button", name="Show version 1").click()
    expect(page.locator("#chosen")).to_have_text("v1")
    expect(page.locator("img.map")).to_have_attribute("src", "/ui/models/red/versions/1/regions-b255.png")
    page.wait_for_function(EVERY_IMAGE_LOADED, arg=2)
    assert {status for _, status in seen} == {200}, seen


def test_the_dashboard_shows_live_quality_from_feedback_and_drift(site, page):
    import json
    import urllib.request

    from playwright.sync_api import expect

    def post(path, body, headers=None):
        req = urllib.request.Request(site.base + path, json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    rows = [[x / 10, y / 10] for x in range(0, 40, 3) for y in range(0, 40, 3)]
    answer = post("/predict/checkerboard", {"inputs": rows})
    truths = [p["label"] if i % 4 else ("black" if p["label"] == "white" else "white")  # a quarter wrong
              for i, p in enumerate(answer["predictions"])]
    post("/feedback/checkerboard", {"request_id": answer["id"], "labels": truths},
         {"Authorization": f"Bearer {FEEDBACK_TOKEN}"})
    page.goto(site.base + "/ui/models/checkerboard")
    expect(page.locator("#live-status")).to_contain_text(f"accuracy 75.0% over {len(rows)} rows")
    expect(page.locator("#live-recall tbody tr")).to_have_count(2)
    expect(page.locator("#live-curve")).to_be_visible()
    expect(page.locator("#drift-status")).to_contain_text(f"its latest {len(rows)} rows")
    expect(page.locator("#drift tbody tr")).to_have_count(3)  # x, y and the predictions
    expect(page.locator("#drift tbody tr").last).to_contain_text("predictions")


def test_a_2d_dashboard_shows_its_regions_with_their_legend(site, page):
    from playwright.sync_api import expect

    page.goto(site.base + "/ui/models/quadrant")
    page.wait_for_function(EVERY_IMAGE_LOADED, arg=2)
    expect(page.locator("#slice-control")).to_be_hidden()
    legend = page.locator("figcaption .legend-label")
    expect(legend).to_have_text(["Q1", "Q2", "Q3", "Q4"])
    expect(page.locator("figcaption")).to_contain_text("→ x from -5 to 5; ↑ y from -5 to 5")


def test_a_version_without_pictures_says_how_to_draw_them_and_shows_its_curve(site, page):
    from playwright.sync_api import expect

    page.goto(site.base + "/ui/models/sine")
    expect(page.locator("#no-pictures")).to_contain_text("python -m trainer plot sine --version 1")
    expect(page.locator("svg.curve")).to_be_visible()  # drawn by the page from the training record
    expect(page.locator("svg.curve text").first).to_have_text("1")  # whole epochs
    assert page.evaluate("document.images.length") == 0  # no broken picture


def test_the_planes_show_their_regions_at_once_and_fields_start_at_a_real_input(site, page):
    from playwright.sync_api import expect

    page.goto(site.base + "/")
    expect(page.locator("#model")).to_have_value("checkerboard")
    expect(page.locator("#plane")).to_have_attribute("data-regions", "drawn")  # before any click
    expect(page.locator("#plane-legend .legend-label")).to_have_text(["black", "white"])
    painted = page.evaluate("""() => { const c = document.getElementById("plane").getContext("2d");
        const d = c.getImageData(60, 100, 300, 120).data; const seen = new Set();
        for (let i = 0; i < d.length; i += 4) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
        return [...seen]; }""")
    assert {"214,39,40", "158,202,225"} <= set(painted), painted[:10]  # both classes' colours, not a blank grid
    page.locator("#model").select_option("iris")
    expect(page.locator("#plane-box")).to_be_hidden()
    setosa = {"sepal_length": "5.1", "sepal_width": "3.5", "petal_length": "1.4", "petal_width": "0.2"}
    for feature, value in setosa.items():
        expect(page.locator(f"#f-{feature}")).to_have_value(value)
    expect(page.locator("#fields-note")).to_contain_text("a setosa")
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#other-detail")).to_contain_text("iris version 1")
    # the icon the page links (headless chromium does not ask for it by itself)
    assert page.evaluate("fetch(document.querySelector('link[rel=icon]').href).then((r) => r.status)") == 200


def test_submit_a_job_and_see_the_new_version(site, page):
    from playwright.sync_api import expect

    page.goto(site.base + "/ui/models/xor")
    expect(page.locator("#versions tbody tr")).to_have_count(1)
    page.get_by_label("Token").fill(TOKEN)
    page.get_by_label("Epochs").fill("2")
    page.get_by_label("Samples").fill("1000")
    page.get_by_label("Promote").select_option("always")
    page.get_by_role("button", name="Start a job").click()
    expect(page.locator("#job-status")).to_contain_text("succeeded: published version 2", timeout=60_000)
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    expect(page.locator("#chosen")).to_have_text("v2")
    expect(page.locator("#lineage")).to_have_text("lineage: v2 ← v1")
    expect(page.locator("#job-progress li")).to_have_count(2)


def test_a_wrong_token_is_reported(site, page):
    from playwright.sync_api import expect

    page.goto(site.base + "/ui/models/xor")
    page.get_by_label("Token").fill("wrong")
    page.get_by_role("button", name="Start a job").click()
    expect(page.locator("#job-status")).to_contain_text("Authorization: Bearer")


def test_the_docs_page_renders_each_model_offline(site, page):
    from playwright.sync_api import expect

    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(site.base + "/docs")
    expect(page.locator(".swagger-ui .information-container")).to_contain_text("tinymlp", timeout=15_000)
    expect(page.get_by_text("/predict/red", exact=True).first).to_be_visible()
    assert all(url.startswith(site.base) for url in requests), [u for u in requests if not u.startswith(site.base)]


@pytest.fixture(scope="module")
def proxied(site):
    """The site through the proxy (docker/nginx), whose pages carry a strict CSP."""
    from harness.processes import Nginx
    from tests.e2e.test_proxy import NGINX

    if not NGINX:
        pytest.skip("Debian's nginx is not installed: apt-get install nginx")
    with Nginx(f"127.0.0.1:{site.port}") as proxy:
        yield proxy


def test_the_pages_work_under_the_proxys_content_security_policy(proxied, page):
    from playwright.sync_api import expect

    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(proxied.base + "/")
    _pick(page, "#ff0000")
    expect(page.locator("#verdict")).to_have_text("red")
    page.goto(proxied.base + "/ui/models/red")
    page.wait_for_function(EVERY_IMAGE_LOADED, arg=2)
    expect(page.locator("figcaption")).to_contain_text("true boundary")
    page.goto(proxied.base + "/docs")
    expect(page.get_by_text("/predict/red", exact=True).first).to_be_visible(timeout=15_000)
    assert refused == []
