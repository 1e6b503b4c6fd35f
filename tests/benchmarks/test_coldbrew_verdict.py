"""benchmarks/coldbrew.py's verdict: the student against the best baseline, paired per seed, with the targets."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from coldbrew import paired, verdict  # noqa: E402


def cell(values):
    return {"mean": sum(values) / len(values), "std": 0.0, "values": values}


def results(student_iso, glnn_iso, mlp_iso, untuned=None):
    res = {
        "ColdBrew": {"isolated": cell(student_iso), "tail": cell([70.0] * 10), "overall": cell([75.0] * 10)},
        "GLNN": {"isolated": cell(glnn_iso), "tail": cell([72.0] * 10), "overall": cell([75.5] * 10)},
        "MLP": {"isolated": cell(mlp_iso)},
    }
    if untuned is not None:
        res["ColdBrew-untuned"] = {"isolated": cell(untuned)}
    return {"results": res, "extra": {}}


def test_paired_differences_pair_the_seeds():
    p = paired(results([2.0, 4.0], [1.0, 1.0], [0.0, 0.0])["results"], "isolated", "GLNN")
    assert p == {"mean": 2.0, "std": 2**0.5, "ahead": 2, "behind": 0, "n": 2}


def test_verdict_needs_one_point_and_seven_of_ten_seeds():
    glnn = [70.0] * 10
    # +1.6 on average, but ahead on 6 seeds only: not met; the best baseline is GLNN, not the MLP
    text, numbers = verdict("cora", results([73.0] * 6 + [69.0] * 4, glnn, [60.0] * 10))
    assert numbers["isolated"]["best_baseline"] == "GLNN" and not numbers["isolated"]["target_met"]
    assert "ahead on 6 of 10 seeds" in text and "NOT met" in text and "paper (Table 3) 69.62" in text
    # +1.2, ahead on 8: met; tail 2 points below GLNN: that target not met; overall 0.5 below: met
    text, numbers = verdict("cora", results([71.5] * 8 + [70.0] * 2, glnn, [60.0] * 10, untuned=[70.0] * 10))
    assert numbers["isolated"]["target_met"]
    assert not numbers["tail_vs_glnn"]["target_met"] and numbers["overall_vs_glnn"]["target_met"]
    assert numbers["search_gain_isolated"]["mean"] == 1.2 and "The search (ablation)" in text
