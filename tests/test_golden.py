"""Pins the numbers of a small case of every training path to those of the code before the training core was
consolidated (issue: one training stack). ``tests/golden/small_case.json`` was written by running :func:`compute` on
that code (commit fc4709b, 1 torch thread); a change to seeding, the epoch loop, selection, early stopping or the
models' arithmetic makes this test fail. Deliberate changes since, each re-pinned alone: label propagation's
unreachable nodes predict the training prior (2026-12-02: coldbrew/coldstart LP overall 83.75 -> 85.0, isolated
14.29 -> 28.57; nothing else moved). Graphlearn's own dropout (sparse.dropout: a NumPy SFC64 stream against a 2^-24
threshold, issue 15 finding 7) replaced F.dropout everywhere (2026-12-02): every trained number moved, re-pinned by
running compute() on that code (1 torch thread); accuracy before/after on the full commands is in
benchmarks/results/speed.md. Accuracies are counts over fixed masks, so they compare exactly."""

from __future__ import annotations

import json
from pathlib import Path

import torch

GOLDEN = Path(__file__).parent / "golden" / "small_case.json"


def compute() -> dict:
    """Cold Brew (both protocols), four OGB-protocol baselines and the pretrainer on a 400-node DC-SBM graph."""
    from graphlearn.data import dc_sbm
    from graphlearn.data.splits import ColdStartSplit, InductiveSplit, degree_groups
    from graphlearn.evaluation import run_protocol
    from graphlearn.methods.coldbrew import ColdBrewConfig, run_coldbrew
    from graphlearn.methods.giant import pretrain
    from graphlearn.models import build_model

    graph = dc_sbm(400, num_features=32, seed=1)
    cold = ColdStartSplit(seed=0)(graph)
    out: dict = {}
    for name in ("mlp", "gcn", "sage", "sign"):
        res = run_protocol(
            lambda name=name: build_model(name, 32, 16, graph.num_classes),
            cold,
            runs=2,
            epochs=30,
            seed=3,
            patience=8,
            progress=False,
        )
        out[f"protocol/{name}"] = {
            "per_run": res.per_run,
            "best_epochs": res.best_epochs,
            "epochs_run": [len(c) for c in res.curves],
        }
    # the student's blend (feature head and label memory, 2026-12-03) is fitted after training, pinned in
    # tests/methods/coldbrew/test_memory.py; off here, so this case keeps pinning the training stack alone
    cfg = {"epochs": 40, "patience": 10, "student_hidden": 32, "teacher_hidden": 16, "k": 8, "mlp1_folds": 2,
           "memory_weights": (0.0,), "feature_head_weights": ()}  # fmt: skip
    res = run_coldbrew(cold, ColdBrewConfig.from_dict(cfg), seed=0)
    out["coldbrew/coldstart"] = {m: v["acc"] for m, v in res["models"].items()}
    out["coldbrew/coldstart"]["teacher"] = res["student_teacher"]
    ind = InductiveSplit(seed=1)(degree_groups(graph, seed=1))
    res = run_coldbrew(ind, ColdBrewConfig.from_dict({**cfg, "mlp1_folds": 0}), seed=1)
    out["coldbrew/inductive"] = {
        m: {g: v["acc"][g] for g in ("overall", "tran", "ind")} for m, v in res["models"].items()
    }
    giant = pretrain(cold, {"epochs": 2, "hidden_channels": 16, "out_channels": 8, "progress": False}, seed=0)
    out["giant"] = {"loss": [round(h["loss"], 4) for h in giant.history], "levels": giant.level_metrics}
    return out


def test_small_case_matches_the_pre_consolidation_numbers():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        got = json.loads(json.dumps(compute()))
    finally:
        torch.set_num_threads(threads)
    want = json.loads(GOLDEN.read_text())
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == want[key], key
