"""The trainer's command line, run in process on a temporary store: ``run("train", "xor")``
answers (exit code, stdout, stderr). A test module may give its own ``models`` store."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.cli import main


@pytest.fixture
def models(tmp_path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def run(models, tmp_path, capsys):
    def _run(*argv):
        code = main(["--models-dir", str(models), "--data-dir", str(tmp_path / "data"), "--quiet", *argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run
