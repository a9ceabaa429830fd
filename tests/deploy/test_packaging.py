"""The wheel the image installs holds everything the service serves (the pages and their
scripts) and the trainer reads (iris.csv), not just the Python modules."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_the_web_pages_and_the_data(tmp_path):
    # from the files git knows, as a fresh clone (or the image's build) has them: a working
    # tree's leftovers (an egg-info listing every file) would hide what the build leaves out
    source = tmp_path / "src"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in tracked.split():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(tmp_path), str(source)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("tinymlp-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    static = {p.name for p in (ROOT / "service" / "static").iterdir()}
    assert {f"service/static/{name}" for name in static} <= names, static
    assert "trainer/tasks/data/iris.csv" in names
    assert {"mlp/__init__.py", "core/settings.py", "core/jobs/table.py", "service/wsgi.py"} <= names
