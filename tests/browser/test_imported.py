"""A model imported from scikit-learn in real Chromium: its dashboard shows no pictures and no
training form (it has no task), and the demo page predicts with it without a plane (its
inputs have no bounds). Skips like the other browser tests without Debian's chromium."""

from __future__ import annotations

import shutil

import pytest

from core.store import ModelStore
from harness.processes import Gunicorn

# The browser fixtures and the skip without chromium are test_pages'; importing them shares them.
from tests.browser.test_pages import browser, page, pytestmark  # noqa: F401
from tests.trainer.test_sklearn_import import fitted
from trainer.sklearn_import import import_sklearn


@pytest.fixture(scope="module")
def site(seeded_store_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("imported-site")
    shutil.copytree(seeded_store_dir, root / "models")
    est = fitted("multiclass", "relu", "standard")
    import_sklearn(ModelStore(root / "models"), est, name="flowers", features=["a", "b", "c"])
    with Gunicorn(root / "models", workers=1, log_path=root / "gunicorn.log",
                  env={"TINYMLP_STATE_DIR": str(root / "state")}) as server:
        yield server


def test_the_dashboard_of_an_imported_model_has_no_pictures_or_training(site, page):  # noqa: F811
    from playwright.sync_api import expect

    page.goto(site.base + "/ui/models/flowers")
    expect(page.locator("#summary")).to_contain_text("flowers · serving version 1")
    expect(page.locator("#versions tbody tr")).to_contain_text("imported")
    expect(page.locator("#no-pictures")).to_contain_text("v1 was imported (Pipeline(StandardScaler, MLPClassifier))")
    expect(page.locator("#pictures img")).to_have_count(0)
    expect(page.locator("#train-form")).to_be_hidden()
    expect(page.locator("#train-note")).to_be_visible()


def test_the_demo_page_predicts_with_unbounded_inputs(site, page):  # noqa: F811
    from playwright.sync_api import expect

    page.goto(site.base + "/")
    page.locator("#model").select_option("flowers")
    expect(page.locator("#plane-box")).to_be_hidden()
    expect(page.locator("#f-a")).to_have_value("0")
    assert page.locator("#f-a").get_attribute("min") is None
    page.locator("#f-c").fill("1000")
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#other-detail")).to_contain_text("flowers version 1")
