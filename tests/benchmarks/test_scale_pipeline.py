"""benchmarks/scale_pipeline.py: every stage of the large-graph pipeline runs and is measured, per size, in a fresh
process; a failing size is recorded as failed, not dropped."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import scale_pipeline  # noqa: E402


def test_every_stage_is_timed_and_measured_per_size(tmp_path):
    out = tmp_path / "scale"
    scale_pipeline.main(
        [
            "--sizes",
            "400,800",
            "--threads",
            "1",
            "--epochs",
            "3",
            "--full-batch-rows",
            "500",
            "--batch-size",
            "256",
            "--output",
            str(out),
        ]
    )  # 800 nodes: mini-batches
    record = json.loads(out.with_suffix(".json").read_text())
    assert [r["nodes"] for r in record["sizes"]] == [400, 800]
    for r in record["sizes"]:
        assert set(r["stages"]) == set(scale_pipeline.STAGES)
        for s in r["stages"].values():
            assert s["seconds"] >= 0 and s["peak_mb"] > 50  # a real process's resident set
        assert r["edges"] > r["nodes"] and 0 <= r["stages"]["student"]["isolated_test_acc"] <= 100
        assert r["stages"]["teacher"]["epochs"] == 3 and r["stages"]["export"]["disk_mb"] > 0
    assert record["sizes"][1]["edges"] > record["sizes"][0]["edges"]
    md = out.with_suffix(".md").read_text()
    assert "| 400 |" in md and "| 800 |" in md and "Cost from 400 to 800 nodes" in md


def test_a_failing_size_is_recorded(tmp_path):
    out = tmp_path / "scale"
    scale_pipeline.main(["--sizes", "3", "--threads", "1", "--epochs", "1", "--output", str(out)])  # < 5 classes
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["sizes"][0]["nodes"] == 3 and "failed" in record["sizes"][0]
    assert "num_nodes must be >= num_classes" in record["sizes"][0]["failed"][0]
    assert "| 3 | failed:" in out.with_suffix(".md").read_text()
