"""The wheel the image installs holds everything the service serves (the pages and their
scripts), the trainer reads (iris.csv) and the client is (its package and the `tinymlp`
command), not just the server's modules; and the image's build context lets every package
of the wheel through."""

from __future__ import annotations

import configparser
import fnmatch
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    # from the files git knows, as a fresh clone (or the image's build) has them: a working
    # tree's leftovers (an egg-info listing every file) would hide what the build leaves out
    tmp_path = tmp_path_factory.mktemp("wheel")
    source = tmp_path / "src"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in tracked.split():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(tmp_path), str(source)], check=True, capture_output=True, timeout=300)
    with zipfile.ZipFile(next(tmp_path.glob("tinymlp-*.whl"))) as wheel:
        yield wheel


def test_the_wheel_carries_the_web_pages_and_the_data(wheel):
    names = set(wheel.namelist())
    static = {p.name for p in (ROOT / "service" / "static").iterdir()}
    assert {f"service/static/{name}" for name in static} <= names, static
    assert "trainer/tasks/data/iris.csv" in names
    assert {"mlp/__init__.py", "core/settings.py", "core/jobs/table.py", "service/wsgi.py"} <= names


def test_the_wheel_carries_the_client_and_its_tinymlp_command(wheel):
    names = set(wheel.namelist())
    client = {f"client/{p.name}" for p in (ROOT / "client").glob("*.py")}
    assert "client/cli.py" in client and client <= names, client - names
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    scripts = configparser.ConfigParser()
    scripts.read_string(wheel.read(entry_points).decode())
    assert scripts["console_scripts"]["tinymlp"] == "client.cli:main"


def _passes_dockerignore(name: str) -> bool:
    """Whether a top-level file or folder is in the build context: .dockerignore's patterns in
    order, the last that matches deciding (a '!' pattern lets it back in)."""
    included = True
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pattern = line.lstrip("!").rstrip("/")
        if fnmatch.fnmatchcase(name, pattern):
            included = line.startswith("!")
    return included


def test_the_images_build_context_holds_every_package_of_the_wheel(wheel):
    packages = {n.split("/", 1)[0] for n in wheel.namelist() if n.count("/") == 1 and n.endswith("/__init__.py")}
    assert {"mlp", "core", "trainer", "service", "client"} <= packages
    assert {p for p in packages if not _passes_dockerignore(p)} == set()
    assert _passes_dockerignore("pyproject.toml") and not _passes_dockerignore("tests")  # the rule can say no
