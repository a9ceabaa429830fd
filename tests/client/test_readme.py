"""The README's Python client script, taken from the README as it is and run against a real
gunicorn on a fresh store: with training off (what `make serve` starts without a token) and
on (with a job worker), so the README cannot drift from the client."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.client.test_client import ROOT, Gunicorn, TrainerWorker  # the process harness, as imported there

TOKEN = "readme-token-0123456789ab"  # the service takes 16 characters or more


def readme_script() -> str:
    section = ROOT.joinpath("README.md").read_text().split("## The Python client\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```$", section, flags=re.S | re.M)
    assert len(blocks) == 1, "the README's client section should hold one python block"
    return blocks[0]


def run_readme(base: str, tmp_path, token: str | None) -> subprocess.CompletedProcess:
    script = tmp_path / "first_session.py"
    script.write_text(readme_script())
    env = {"PATH": "/usr/bin:/bin", "TINYMLP_URL": base, **({"TINYMLP_TRAIN_TOKEN": token} if token else {})}
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=env)


@pytest.mark.parametrize("training", [False, True], ids=["training off", "training on"])
def test_the_readme_client_script_runs_as_it_is(training, seeded_store_dir, tmp_path):
    shutil.copytree(seeded_store_dir, tmp_path / "models")
    env = {"TINYMLP_STATE_DIR": str(tmp_path / "state"), "TINYMLP_RELOAD_INTERVAL": "0.2",
           **({"TINYMLP_TRAIN_TOKEN": TOKEN} if training else {})}
    with Gunicorn(tmp_path / "models", workers=2, env=env) as server:
        if training:
            with TrainerWorker(tmp_path / "models", tmp_path / "state", log_path=tmp_path / "worker.log", env=env):
                run = run_readme(server.base, tmp_path, TOKEN)
        else:
            run = run_readme(server.base, tmp_path, None)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "ready: True" and lines[1] == "['red', 'not_red'] by version 1"
    assert re.fullmatch(r"\{'red': [\d.e-]+, 'not_red': [\d.e-]+\}", lines[2]) and float(lines[3])
    assert lines[4] == "1" and lines[5].endswith("'xor'] red serves v1")
    assert lines[6] == "422 row 0, column 1 (g): 300 is outside 0..255"
    if training:
        assert re.fullmatch(r"succeeded: published v2, (promoted|not promoted) \(.+\)", lines[7]), lines[7]
        assert "epoch" in run.stderr  # the bar of epochs
    else:
        assert lines[7].startswith("no training: ") and "TINYMLP_TRAIN_TOKEN" in lines[7], lines[7]
    assert len(lines) == 8, lines
