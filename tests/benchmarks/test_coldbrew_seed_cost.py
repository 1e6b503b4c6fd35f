"""benchmarks/coldbrew_seed_cost.py: its synthetic graphs load through the user's ``.npz`` path with the size it
records, its cost curve is the slope of the logs, and the verdict reads the 15k-node row."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import coldbrew_seed_cost as bench  # noqa: E402


def test_the_synthetic_graph_is_read_back_as_recorded(tmp_path):
    from graphlearn.data import load_dataset

    path = tmp_path / "syn.npz"
    size = bench.write_synthetic(path, 500, num_features=12, avg_degree=8)
    data = load_dataset(str(path))
    assert (data.num_nodes, data.num_features) == (500, 12) and size["features"] == 12
    assert data.edge_index.size(1) == 2 * size["edges"]  # stored once per pair, symmetrised by the loader
    n_train, n_val = int(data.train_mask.sum()), int(data.val_mask.sum())
    assert abs(n_train - 300) <= 10 and abs(n_val - 100) <= 10 and not bool((data.train_mask & data.val_mask).any())
    assert int(data.y.max()) + 1 == 10


def test_cost_curve_and_verdict():
    assert bench.slope([1e4, 1e5, 1e6], [2.0, 20.0, 200.0]) == pytest.approx(1.0)
    assert bench.slope([1e4, 1e5], [1.0, 100.0]) == pytest.approx(2.0)
    assert bench.slope([1e4], [1.0]) is None
    row = {"graph": "synthetic-15000", "synthetic": True, "nodes": 15000, "edges": 200000, "features": 767}
    meta = {
        "command": "c",
        "hardware": "h",
        "threads": 2,
        "date": "d",
        "git": "g",
        "avg_degree": 30,
        "features": 767,
        "protocols": "coldstart",
    }
    assert "**met**" in bench.to_markdown([{**row, "wall_s": 119.0, "peak_mb": 900}], meta)
    assert "**NOT met**" in bench.to_markdown([{**row, "wall_s": 121.0, "peak_mb": 900}], meta)
