"""The seeded OGB protocol (graphlearn.evaluation.protocol)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphlearn.data.splits import ColdStartSplit, InductiveSplit
from graphlearn.evaluation import accuracy, run_protocol
from graphlearn.models import build_model


def predictions_with(data, val_correct: int, test_correct: int):
    """Labels with exactly the first ``val_correct`` val nodes and
    ``test_correct`` test nodes right (train nodes always right)."""
    pred = (data.y + 1) % 3
    pred[data.train_mask] = data.y[data.train_mask]
    for mask, k in ((data.val_mask, val_correct), (data.test_mask, test_correct)):
        idx = mask.nonzero().view(-1)[:k]
        pred[idx] = data.y[idx]
    return pred


def test_accuracy_uses_ogb_evaluator_in_percent(graph):
    y = graph.y
    assert accuracy(y, y) == 100.0
    wrong = (y + 1) % 3
    assert accuracy(y, wrong) == 0.0
    logits = torch.nn.functional.one_hot(y, 3).float()
    assert accuracy(y, logits, graph.test_mask) == 100.0
    half = y.clone()
    half[::2] = wrong[::2]
    assert accuracy(y.numpy(), half.numpy()) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="empty"):
        accuracy(y, y, torch.zeros_like(graph.test_mask))
    with pytest.raises(ValueError, match="nodes"):
        accuracy(y, y[:5])


def test_best_validation_epoch_is_selected(graph, scripted):
    # val correct per epoch: 3, 9, 12, 12, 5  -> best epoch 3 (earliest of the tie)
    # test correct per epoch: 1, 2, 7, 20, 25 -> reported 7 / 25 test nodes
    val, test = [3, 9, 12, 12, 5], [1, 2, 7, 20, 25]
    script = [predictions_with(graph, v, t) for v, t in zip(val, test)]
    model = scripted(script)
    res = run_protocol(model, graph, runs=2, epochs=5, progress=False)
    n_val, n_test = int(graph.val_mask.sum()), int(graph.test_mask.sum())
    assert res.best_epochs == [3, 3]
    assert res.per_run[0]["overall"] == pytest.approx(100 * 7 / n_test)
    assert res.best_val[0] == pytest.approx(100 * 12 / n_val)
    assert model.resets == 2
    assert [round(c["val"], 6) for c in res.curves[0]] == [round(100 * v / n_val, 6) for v in val]
    expected_correct = (script[2] == graph.y).numpy()
    assert res.correct.shape == (2, graph.num_nodes) and res.correct.dtype == bool
    assert np.array_equal(res.correct[1], expected_correct)
    s = res.summary()
    assert s["overall"]["values"] == [pytest.approx(100 * 7 / n_test)] * 2
    assert s["overall"]["std"] == 0.0


def test_patience_stops_early(graph, scripted):
    val = [5, 10, 4, 4, 4, 4, 4, 15]
    script = [predictions_with(graph, v, 3) for v in val]
    res = run_protocol(scripted(script), graph, runs=1, epochs=8, patience=3, progress=False)
    assert res.best_epochs == [2]
    assert len(res.curves[0]) == 5  # stopped 3 epochs after the best


def test_on_epoch_called_for_every_epoch(graph):
    calls = []
    data = ColdStartSplit(seed=0)(graph)
    run_protocol(
        lambda: build_model("mlp", 8, 16, 3),
        data,
        runs=2,
        epochs=4,
        on_epoch=lambda s, e, m: calls.append((s, e, m)),
        progress=False,
    )
    assert [(s, e) for s, e, _ in calls] == [(f"run{r}", e) for r in range(2) for e in range(1, 5)]
    keys = set(calls[0][2])
    assert {"loss", "train", "val", "overall"} <= keys
    assert keys - {"loss", "train", "val"} <= {"overall", "head", "tail", "isolated"}


@pytest.mark.parametrize("name", ["gcn", "sign"])
def test_deterministic(graph, name):
    make = lambda: build_model(name, 8, 16, 3)
    a = run_protocol(make, graph, runs=2, epochs=15, seed=4, progress=False)
    b = run_protocol(make, graph, runs=2, epochs=15, seed=4, progress=False)
    c = run_protocol(make, graph, runs=2, epochs=15, seed=5, progress=False)
    assert a.per_run == b.per_run and a.curves == b.curves
    assert np.array_equal(a.correct, b.correct)
    assert [m["loss"] for m in a.curves[0]] != [m["loss"] for m in c.curves[0]]
    # Run r uses seed + r: run 1 of seed 4 is run 0 of seed 5.
    assert a.curves[1] == c.curves[0]
    assert not torch.are_deterministic_algorithms_enabled()  # caller's setting restored


def test_learns_and_reports_groups(graph):
    data = ColdStartSplit(head=0.2, tail=0.2, isolated=0.2, seed=0)(graph)
    res = run_protocol(lambda: build_model("mlp", 8, 16, 3), data, runs=2, epochs=40, lr=0.05, progress=False)
    assert set(res.groups) <= {"overall", "head", "tail", "isolated"}
    assert res.summary()["overall"]["mean"] > 60  # features carry the label
    assert len(res.wall_time) == 2 and all(t > 0 for t in res.wall_time)
    assert res.config["runs"] == 2


def test_kept_models_are_the_selected_epochs(graph):
    """keep_models: each run's state at its best-validation epoch, which predicts exactly the nodes the run scored
    right; the numbers are those of a run without it."""
    data = ColdStartSplit(head=0.2, tail=0.2, isolated=0.2, seed=0)(graph)
    make = lambda: build_model("gcn", 8, 16, 3)
    kept = run_protocol(make, data, runs=2, epochs=30, lr=0.05, progress=False, keep_models=True)
    plain = run_protocol(make, data, runs=2, epochs=30, lr=0.05, progress=False)
    assert kept.per_run == plain.per_run and kept.best_epochs == plain.best_epochs and not plain.models
    assert len(kept.models) == 2 and any(e < 30 for e in kept.best_epochs)  # a best epoch before the last one
    for state, correct in zip(kept.models, kept.correct):
        model = make().eval()
        model.load_state_dict(state)
        with torch.no_grad():
            pred = model(data.x, data.edge_index).argmax(-1)
        assert np.array_equal((pred == data.y).numpy(), correct)


def test_preprocess_called_once_per_graph(graph):
    calls = []

    def make():
        model = build_model("sign", 8, 16, 3, K=2)
        pre = model.preprocess
        model.preprocess = lambda x, ei: calls.append(1) or pre(x, ei)
        return model

    run_protocol(make, graph, runs=3, epochs=3, progress=False)
    assert len(calls) == 1


def test_inductive_protocol_mixes_observed_and_full_graph(graph):
    data = InductiveSplit(ratio=0.3, seed=0)(graph)
    seen = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(8, 3)

        def reset_parameters(self):
            self.lin.reset_parameters()

        def forward(self, x, edge_index):
            seen.append(edge_index.size(1))
            return self.lin(x)

    res = run_protocol(Spy, data, runs=1, epochs=2, progress=False)
    obs, full = data.edge_index.size(1), data.full_edge_index.size(1)
    assert seen == [obs, obs, full] * 2  # train, eval observed, eval full
    r = res.per_run[0]
    n_tran, n_ind = int(data.test_tran_mask.sum()), int(data.test_ind_mask.sum())
    assert r["overall"] == pytest.approx((r["tran"] * n_tran + r["ind"] * n_ind) / (n_tran + n_ind))


def test_argument_errors(graph):
    with pytest.raises(ValueError, match="runs"):
        run_protocol(lambda: build_model("mlp", 8, 8, 3), graph, runs=0)
    graph.val_mask[:] = False
    with pytest.raises(ValueError, match="val_mask"):
        run_protocol(lambda: build_model("mlp", 8, 8, 3), graph, runs=1, progress=False)
