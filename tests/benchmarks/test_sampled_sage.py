"""benchmarks/sampled_sage.py: full batch and sampled GraphSAGE per dataset, each in a fresh process; without the
sampling backend the sampled row records the job's instruction instead of a number."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch_geometric.typing as pyg_typing

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import sampled_sage  # noqa: E402


def test_both_modes_run_per_dataset_and_are_compared(tmp_path):
    out = tmp_path / "ss"
    sampled_sage.main(["--datasets", "synthetic:300", "--epochs", "2", "--batch-size", "64", "--output", str(out)])
    record = json.loads(out.with_suffix(".json").read_text())
    full, sampled = record["runs"]
    assert (full["mode"], sampled["mode"]) == sampled_sage.MODES
    assert full["epochs"] == 2 and full["peak_mb"] > 50 and 0 <= full["test"] <= 100
    md = out.with_suffix(".md").read_text()
    if pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE:
        assert sampled["num_neighbors"] == [10, 10] and sampled["epochs"] >= 1
        assert "a sampled pass costs" in md
    else:
        assert "make sampling" in sampled["failed"] and "failed: ValueError" in md
