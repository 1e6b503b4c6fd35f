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


def _record(path: Path, sizes: list[tuple[int, int, float, float]], failed: int | None = None) -> Path:
    """A scale_pipeline record with the given (nodes, edges, seconds per stage, peak MB) sizes."""
    rows = [
        {"nodes": n, "edges": e, "peak_mb": mb, "stages": {s: {"seconds": sec} for s in scale_pipeline.STAGES}}
        for n, e, sec, mb in sizes
    ]
    if failed is not None:
        rows.append({"nodes": failed, "failed": ["MemoryError"]})
    path.write_text(json.dumps({"date": "today", "threads": 1, "sizes": rows}))
    return path


def test_scale_curve_joins_the_records_and_fits_the_exponent(tmp_path):
    import scale_curve

    quick = _record(tmp_path / "quick.json", [(10, 100, 1.0, 50.0), (100, 1000, 2.0, 100.0)])
    full = _record(tmp_path / "full.json", [(1000, 10_000, 20.0, 1000.0)], failed=2000)  # time, memory linear
    out = tmp_path / "curve"
    scale_curve.main(["--inputs", f"{quick},{full}", "--fit-from", "100", "--output", str(out)])
    record = json.loads(out.with_suffix(".json").read_text())
    assert [r["nodes"] for r in record["sizes"]] == [10, 100, 1000]  # the failed size is left out
    assert record["sizes"][2]["seconds"] == 20.0 * len(scale_pipeline.STAGES)
    assert abs(record["exponents"]["seconds"] - 1.0) < 1e-9 and abs(record["exponents"]["peak_mb"] - 1.0) < 1e-9
    md = out.with_suffix(".md").read_text()
    assert "b = 1.00" in md and "full.json" in md
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_scale_curve_names_a_file_that_is_not_a_record(tmp_path, capsys):
    import pytest
    import scale_curve

    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": []}')
    with pytest.raises(SystemExit, match="bad.json is not a scale_pipeline record"):
        scale_curve.main(["--inputs", str(bad), "--output", str(tmp_path / "c")])
    bad.write_text("{not json")
    with pytest.raises(SystemExit, match="cannot read .*bad.json"):
        scale_curve.main(["--inputs", str(bad), "--output", str(tmp_path / "c")])
    assert not (tmp_path / "c.md").exists()  # nothing half-written
