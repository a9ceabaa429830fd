"""The tinymlp command line (python -m client) against a real gunicorn and job worker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.processes import ROOT, free_port
from tests.client.test_client import TOKEN, service  # noqa: F401 - the module's service fixture


@pytest.fixture
def tinymlp(service):  # noqa: F811
    def run(*args, stdin: str | None = None, env: dict | None = None):
        proc = subprocess.run([sys.executable, "-m", "client", *args], cwd=ROOT, input=stdin, capture_output=True,
                              text=True, timeout=180,
                              env={"PATH": "/usr/bin:/bin", "TINYMLP_URL": service.base, "TINYMLP_TRAIN_TOKEN": TOKEN,
                                   **(env or {})})
        return proc.returncode, proc.stdout, proc.stderr

    return run


def test_predict_rows_given_on_the_command_line(tinymlp):
    code, out, err = tinymlp("predict", "red", "255,0,0", "0,0,255")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2, err
    assert lines[0].startswith("255,0,0\tred\t(red ") and lines[1].startswith("0,0,255\tnot_red\t")
    code, out, _ = tinymlp("predict", "red", "255,0,0", "--json")
    answer = json.loads(out)
    assert answer["model"] == "red" and answer["predictions"][0]["label"] == "red"
    code, out, _ = tinymlp("predict", "house_prices", "1500,3,10")
    assert code == 0 and out.startswith("1500,3,10\t") and "(v1)" in out
    code, out, err = tinymlp("predict", "quadrant", "-1,-1", "1,-1.5", "--json")  # rows may start with a minus
    assert code == 0 and [p["label"] for p in json.loads(out)["predictions"]] == ["Q3", "Q4"], err


def test_predict_rows_from_csv_and_json_lines(tinymlp, tmp_path):
    (tmp_path / "colours.csv").write_text("r,g,b\n255,0,0\n12,200,40\n")
    code, out, err = tinymlp("predict", "red", "--file", str(tmp_path / "colours.csv"))
    assert code == 0 and [line.split("\t")[1] for line in out.splitlines()] == ["red", "not_red"], err
    code, out, err = tinymlp("predict", "red", "--file", "-", stdin='[255, 0, 0]\n{"r": 12, "g": 200, "b": 40}\n')
    assert code == 0 and [line.split("\t")[1] for line in out.splitlines()] == ["red", "not_red"], err


def test_models_train_wait_jobs_and_cancel(tinymlp):
    code, out, _ = tinymlp("models")
    assert code == 0 and any(line.startswith("red ") for line in out.splitlines())
    code, out, err = tinymlp("train", "quadrant", "--epochs", "2", "--samples", "500", "--example", "1,1=Q1",
                             "--example", "-1,1=Q2", "--promote", "always", "--wait", "--quiet")
    assert code == 0, err
    assert "queued job" in out and "succeeded" in out and "published v" in out and "promotion:" in out
    job_id = out.split()[2]
    code, out, _ = tinymlp("jobs", "--model", "quadrant")
    assert code == 0 and job_id in out
    code, out, err = tinymlp("cancel", job_id)
    assert code == 1 and err.startswith("error: ") and "nothing to cancel" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(("args", "says"), [
    (("predict", "purple", "1,2,3"), "No model named 'purple'"),
    (("predict", "red", "1,x,3"), "'x' is not a number"),
    (("predict", "red", "1,300,3"), "300 is outside 0..255"),
    (("predict", "red"), "give rows"),
    (("predict", "red", "--file", "/nonexistent.csv"), "cannot read /nonexistent.csv"),
    (("train", "red", "--example", "250,10,10"), "an example is values=label"),
    (("job", "nope"), "No job 'nope'"),
])
def test_an_error_is_one_line_and_exit_1(tinymlp, args, says):
    code, out, err = tinymlp(*args)
    assert code == 1 and err.startswith("error: ") and says in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_an_unreachable_service_and_a_wrong_token(tinymlp):
    port = free_port()
    code, _, err = tinymlp("--url", f"http://127.0.0.1:{port}", "models")
    assert code == 1 and f"could not reach http://127.0.0.1:{port}/models" in err and len(err.splitlines()) == 1
    code, _, err = tinymlp("jobs", env={"TINYMLP_TRAIN_TOKEN": "wrong"})
    assert code == 1 and "token" in err and "HTTP 401" in err
