"""benchmarks/opis.py end to end on a small synthetic graph (about 10 s, no data files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_writes_opis_results(tmp_path):
    out = tmp_path / "opis"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    argv = ["--datasets", "synthetic:300", "--runs", "2", "--tcm-weights", "1", "--output", str(out)]
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "opis.py"), *argv], check=True, env=env, cwd=tmp_path)
    md = (tmp_path / "opis.md").read_text()
    assert "2-core CPU" in md and "| ColdBrew coldbrew |" in md and "| 1 |" in md
    res = json.loads((tmp_path / "opis.json").read_text())["datasets"]["synthetic:300"]
    summary = res["summary"]
    assert set(summary["opis"]["test"]) == {
        "ColdBrew coldbrew",
        "ColdBrew mlp1",
        "MLP hidden",
        "GLNN hidden",
        "raw features",
    }
    assert all(0.0 <= v["mean"] <= 0.25 for v in summary["opis"]["test"].values())
    assert set(summary["tcm"]) == {"0", "1"} and len(res["runs"]) == 2
