"""benchmarks/glnn_reseed.py: every draw is a GLNN of its own (other random draws, same setting), paired per seed
against the job's GLNN, and bad arguments are refused by name."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import glnn_reseed  # noqa: E402


def test_draws_are_paired_against_the_jobs_glnn(tmp_path):
    out = tmp_path / "reseed"
    glnn_reseed.main(["--datasets", "synthetic:300", "--runs", "2", "--draws", "2", "--output", str(out)])
    record = json.loads(out.with_suffix(".json").read_text())
    seeds = record["datasets"]["synthetic:300"]
    assert [sorted(s) for s in seeds] == [["GLNN", "draw1", "draw2"]] * 2
    assert all(0 <= v <= 100 for s in seeds for v in s.values())
    table = out.with_suffix(".md").read_text()
    assert table.count("| synthetic:300 | 2 |") == 2  # one row per draw


def test_bad_arguments_are_refused(capsys):
    with pytest.raises(SystemExit):
        glnn_reseed.main(["--draws", "0"])
    assert "--runs, --draws and --threads must be >= 1 (got 10, 0, 1)" in capsys.readouterr().err
