"""The tinymlp command line (python -m client) against a real gunicorn and job worker, run in
a folder of its own (it reads ./.env there)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from client.cli import build_parser
from tests.client.test_client import TOKEN, free_port, service  # noqa: F401 - the module's service fixture


@pytest.fixture
def tinymlp(service, tmp_path):  # noqa: F811
    def run(*args, stdin: str | None = None, env: dict | None = None, url: bool = True, token: bool = True):
        base = {"PATH": "/usr/bin:/bin"}
        if url:
            base["TINYMLP_URL"] = service.base
        if token:
            base["TINYMLP_TRAIN_TOKEN"] = TOKEN
        proc = subprocess.run([sys.executable, "-m", "client", *args], cwd=tmp_path, input=stdin, capture_output=True,
                              text=True, timeout=180, env={**base, **(env or {})})
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


def test_global_options_go_before_or_after_the_command(tinymlp, service):  # noqa: F811
    for args in (("--url", service.base, "predict", "red", "255,0,0"),
                 ("predict", "red", "255,0,0", "--url", service.base),
                 ("predict", "--timeout", "20", "red", "255,0,0", "--url", service.base),
                 ("jobs", "--url", service.base, "--token", TOKEN, "--limit", "1")):
        code, _, err = tinymlp(*args, url=False, token=False)
        assert code == 0, (args, err)
    code, _, err = tinymlp("jobs", "--token", "wrong", url=True, token=True)  # after the command, it still wins
    assert code == 1 and "HTTP 401" in err


def test_url_and_token_from_dot_env_unless_the_environment_says(tinymlp, service, tmp_path):  # noqa: F811
    (tmp_path / ".env").write_text(f"# the project's .env\nTINYMLP_PORT=8000\nexport TINYMLP_URL={service.base}\n"
                                   f"TINYMLP_TRAIN_TOKEN='{TOKEN}'  # for /train\n\nPOSTGRES_PASSWORD=\"a b#c\"\n")
    code, out, err = tinymlp("jobs", "--limit", "1", url=False, token=False)
    assert code == 0, err
    code, _, err = tinymlp("jobs", url=False, env={"TINYMLP_TRAIN_TOKEN": "from-the-environment"})
    assert code == 1 and "HTTP 401" in err  # the environment wins over .env
    code, _, err = tinymlp("models", url=False, token=False, env={"TINYMLP_URL": f"http://127.0.0.1:{free_port()}"})
    assert code == 1 and "could not reach" in err
    (tmp_path / ".env").write_text(f"TINYMLP_URL={service.base}\nthis is not a setting\n")
    code, _, err = tinymlp("models", url=False, token=False)
    assert code == 1 and err == "error: .env, line 2: 'this is not a setting' is not NAME=value\n"
    (tmp_path / ".env").write_text("TINYMLP_TRAIN_TOKEN=\"unclosed\n")
    code, _, err = tinymlp("jobs", token=False)
    assert code == 1 and err == "error: .env, line 1: the value's double quote is never closed\n"


def test_models_counts_versions_and_notes_a_label_pinning_an_older_one(tinymlp):
    code, out, err = tinymlp("train", "sine", "--epochs", "1", "--samples", "200", "--promote", "never", "--wait",
                             "--quiet")
    assert code == 0, err
    new = int(out.split("published v")[1].split()[0])
    assert (f"published v{new} but not promoted (promote=never): the service keeps serving v1; to serve v{new}: "
            f"python -m trainer label sine default {new}, or train with --promote always") in out
    code, out, err = tinymlp("models")
    line = next(line for line in out.splitlines() if line.startswith("sine "))
    assert code == 0 and re.search(rf"serves v1 +{new} versions \(1-{new}\) +labels default=v1", line), line
    assert "versions 2" not in out and "versions 1" not in out
    assert (f"note: sine serves v1 because its default label pins it; v{new} is newer (to serve v{new}: python -m "
            f"trainer label sine default {new})") in err


def test_train_wait_says_which_version_is_served_then_jobs_and_cancel(tinymlp):
    code, out, err = tinymlp("train", "quadrant", "--epochs", "2", "--samples", "500", "--example", "1,1=Q1",
                             "--example", "-1,1=Q2", "--promote", "always", "--wait")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("queued job ") and " succeeded " in lines[1] and "(promoted)" in lines[1]
    new = int(lines[1].split("published v")[1].split()[0])
    assert lines[2].startswith(f"the service now serves quadrant v{new} (promote=always")
    assert f"published v{new} and promoted it" in err and "waiting until every replica serves it" in err
    frames = err.replace("\r", "\n").splitlines()
    assert not [f for f in frames if "queued" in f and "100%" in f]
    job_id = lines[0].split()[2]
    code, out, _ = tinymlp("jobs", "--model", "quadrant")
    assert code == 0 and job_id in out
    code, out, err = tinymlp("cancel", job_id)
    assert code == 1 and err.startswith("error: ") and "nothing to cancel" in err and len(err.splitlines()) == 1


def test_every_option_of_every_command_is_documented():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, command in commands.items():
        for action in command._actions:
            assert action.help and action.help.strip(), f"tinymlp {name} {action.option_strings or action.dest}"
    code = subprocess.run([sys.executable, "-m", "client", "train", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert code.returncode == 0
    assert "--epochs EPOCHS       passes over the training data" in code.stdout and "--samples SAMPLES" in code.stdout


@pytest.mark.parametrize(("args", "says"), [
    (("predict", "purple", "1,2,3"), "No model named 'purple'"),
    (("predict", "red", "1,x,3"), "'x' is not a number"),
    (("predict", "red", "1,300,3"), "300 is outside 0..255"),
    (("predict", "red"), "give rows"),
    (("predict", "red", "--file", "/nonexistent.csv"), "cannot read /nonexistent.csv"),
    (("train", "red", "--example", "250,10,10"), "an example is values=label"),
    (("train", "red", "--epochs", "many"), "argument --epochs: 'many' is not a whole number above 0 (see tinymlp "
                                            "train --help)"),
    (("predict", "red", "1,2,3", "--timeout", "0"), "'0' is not a number of seconds above 0"),
    (("predict", "red", "1,2,3", "--nonsense"), "unrecognized arguments: --nonsense"),
    (("job", "nope"), "No job 'nope'"),
])
def test_an_error_is_one_line_and_exit_1(tinymlp, args, says):
    code, out, err = tinymlp(*args)
    assert code == 1 and err.startswith("error: ") and says in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_an_unreachable_service_and_a_missing_or_wrong_token(tinymlp):
    port = free_port()
    code, _, err = tinymlp("--url", f"http://127.0.0.1:{port}", "models")
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"error: could not reach http://127.0.0.1:{port}/models: connection refused")
    assert "(," not in err
    for env, token in (({"TINYMLP_TRAIN_TOKEN": "wrong"}, True), ({}, False)):
        code, _, err = tinymlp("jobs", env=env, token=token)
        assert code == 1 and "HTTP 401" in err and len(err.splitlines()) == 1
        assert "--token" in err and "TINYMLP_TRAIN_TOKEN" in err
