"""benchmarks/coldbrew_inference.py end to end on a tiny synthetic graph (seconds, no data files)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch

from graphlearn.data.synthetic import dc_sbm

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "coldbrew_inference.py"


def load_script():
    spec = importlib.util.spec_from_file_location("coldbrew_inference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_writes_results_with_positive_timings(tmp_path):
    bench = load_script()
    data = dc_sbm(240, num_classes=3, avg_degree=6, num_features=16, seed=0)
    data.name = "dc-sbm"
    out = tmp_path / "inference"
    argv = [
        "--epochs",
        "3",
        "--patience",
        "3",
        "--repeats",
        "1",
        "--latency-nodes",
        "12",
        "--ratio",
        "0.5",
        "--output",
        str(out),
        "--no-progress",
    ]
    assert bench.main(argv, data=data) == 0
    assert torch.get_num_threads() == 1

    res = json.loads(out.with_name("inference.json").read_text())
    for key in (
        "command",
        "date_utc",
        "hardware",
        "torch",
        "threads",
        "dataset",
        "modes",
        "speedup_over_teacher",
        "checks",
        "train_seconds",
    ):
        assert key in res
    assert res["threads"] == 1 and "--ratio 0.5" in res["command"]
    n_new = res["dataset"]["new_nodes"]
    assert n_new == int(0.5 * int(data.test_mask.sum()))
    assert set(res["modes"]) == set(bench.MODES)
    for mode in res["modes"].values():
        assert mode["latency_ms"]["median"] > 0 and mode["latency_ms"]["p95"] >= mode["latency_ms"]["median"]
        assert mode["latency_ms"]["n"] == 12
        assert mode["batch"]["nodes"] == n_new and mode["batch"]["nodes_per_s"] > 0
        assert 0 <= mode["accuracy"]["one_at_a_time"] <= 100 and 0 <= mode["accuracy"]["batch"] <= 100
    speedup = res["speedup_over_teacher"]
    assert bench.STUDENT in speedup and set(speedup) == set(bench.MODES) - set(bench.TEACHERS)
    for per_teacher in speedup.values():
        assert set(per_teacher) == set(bench.TEACHERS)
        assert all(s["latency_median"] > 0 and s["throughput"] > 0 for s in per_teacher.values())
    # the full 2-hop subgraph is exact for a 2-layer mean-aggregating SAGE
    assert res["checks"]["teacher_2hop_vs_full_max_abs_diff"] < 1e-4
    md = out.with_name("inference.md").read_text()
    assert "| mode |" in md and res["command"] in md
    assert not list(tmp_path.glob("*.tmp"))
