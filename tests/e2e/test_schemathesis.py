"""schemathesis, with every check it has and every phase (examples, coverage, fuzzing and the
stateful phase), over the OpenAPI document (every shared path, and the paths of red, iris and
house_prices, which the other models' repeat) of a real gunicorn with training on and a
job worker running the jobs it submits: 0 failures. Schema-valid requests are accepted,
invalid ones refused with a 4xx, answers match the document, a 405 says what is allowed,
/train without a token is 401, a removed job is gone (404)..."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

from harness.processes import Gunicorn, TrainerWorker

TOKEN = "schemathesis-token-0123456789"
ALIKE = ("xor", "sine", "checkerboard", "quadrant")  # shaped as red or iris are


def test_schemathesis_with_all_checks_finds_nothing(seeded_store_dir, tmp_path):
    shutil.copytree(seeded_store_dir, tmp_path / "models")
    env = {"TINYMLP_STATE_DIR": str(tmp_path / "state"), "TINYMLP_TRAIN_TOKEN": TOKEN,
           "TINYMLP_FEEDBACK_TOKEN": TOKEN,  # one header for both: /feedback is fuzzed too
           "TINYMLP_MAX_QUEUED_JOBS": "20",
           # the fuzzer asks for up to 500 epochs of 200,000 samples: let each job end soon
           # (failed: time limit), so that jobs finish and their records can be removed
           "TINYMLP_JOB_TIME_LIMIT": "2"}
    with Gunicorn(tmp_path / "models", workers=2, log_path=tmp_path / "gunicorn.log", env=env) as server, \
            TrainerWorker(tmp_path / "models", tmp_path / "state", log_path=tmp_path / "worker.log", env=env):
        run = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "run", f"{server.base}/openapi.json", "--checks", "all",
             "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "15", "--seed", "20261126",
             # three models of seven stand for them all: an integer classifier, a float one of
             # three classes, a regressor (each model's paths are the same operations)
             "--exclude-path-regex", f"/({'|'.join(ALIKE)})(/|$)",
             # one worker: hypothesis describing its lambdas from several threads at once trips
             # CPython 3.11's ast.parse ("AST constructor recursion depth mismatch")
             "-H", f"Authorization: Bearer {TOKEN}", "--workers", "1", "--no-color",
             "--request-timeout", "20", "--max-failures", "10"],
            capture_output=True, text=True, timeout=900, cwd=tmp_path)
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary
    tested = re.search(r"Tested: (\d+)", run.stdout)
    assert tested and int(tested.group(1)) >= 75, summary  # the shared paths, and 22 operations of each of 3 models
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert re.search(rf"✅ {phase}", run.stdout), summary
