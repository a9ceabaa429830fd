"""benchmarks/predict_breakdown.py patches the predict view's parts by name; this keeps
it working as the view changes (a renamed part, or an answer that is not a 200, fails)."""

import re

from benchmarks import predict_breakdown


def test_breakdown_runs_and_prints_every_part(capsys):
    predict_breakdown.main(["--calls", "3"])
    out = capsys.readouterr().out
    for part in ("GET /healthz", "POST /predict/red", "fixed answer", "load (body", "forward pass",
                 "JSON answer", "view work in all"):
        assert re.search(re.escape(part) + r".*\d+\.\d us", out), part
