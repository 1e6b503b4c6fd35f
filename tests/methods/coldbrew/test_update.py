"""Backward-compatible updates of the Cold Brew student (BCT influence loss, PCT focal distillation)."""

from __future__ import annotations

import pytest
import torch

from graphlearn.data import load_dataset
from graphlearn.data.protocols import apply_protocol
from graphlearn.data.splits import node_degree
from graphlearn.evaluation.compat import retrieval_compatibility
from graphlearn.export.spaces import query_vectors, student_vectors
from graphlearn.methods.coldbrew import ColdBrewConfig, run_coldbrew, train_update
from graphlearn.methods.coldbrew.update import focal_distillation_loss, influence_loss

CONFIG = {"epochs": 60, "patience": None, "student_hidden": 32, "teacher_hidden": 16, "k": 8}


@pytest.fixture(scope="module")
def setting():
    torch.set_num_threads(1)
    raw = load_dataset("synthetic:600", seed=0)
    data = apply_protocol(raw, "coldstart", 0)
    config = ColdBrewConfig.from_dict({**CONFIG, "models": ["GNN", "GNN+SE", "ColdBrew"]})
    old = run_coldbrew(data, config, seed=0)["trained"]["ColdBrew"]
    return raw, data, config, old, student_vectors(old, data.x)


@pytest.fixture(scope="module")
def updates(setting):
    _, data, config, old, old_index = setting
    return {mode: train_update(data, old, old_index, config, 100, mode=mode) for mode in ("independent", "compatible")}


def _new_old(setting, result):
    raw, data, _, old, old_index = setting
    # Every isolated node (none is trained on; a DC-SBM's edges are random within classes, so recall is near chance
    # and same-class precision carries the signal).
    iso = data.isolated_mask.nonzero().view(-1)
    x = data.x
    return retrieval_compatibility(
        query_vectors(old, x[iso]),
        old_index,
        query_vectors(result.student, x[iso]),
        student_vectors(result.student, x, space=result.index_space),
        edge_index=raw.edge_index,
        y=data.y,
        query_nodes=iso,
    )


def test_compatible_queries_search_the_old_index_better(setting, updates):
    _, data, _, _, old_index = setting
    ind, comp = _new_old(setting, updates["independent"]), _new_old(setting, updates["compatible"])
    assert comp["new/old"]["precision"] > ind["new/old"]["precision"] + 5
    # recall@k on this tiny graph is near chance (a few %), so only a gross loss would mean something
    assert comp["new/old"]["recall"] >= ind["new/old"]["recall"] - 2.0
    # The query vectors themselves moved into the old space.
    x = data.x
    cos = {m: float((query_vectors(r.student, x) * old_index).sum(1).mean()) for m, r in updates.items()}
    assert cos["compatible"] > cos["independent"] + 0.2


def test_index_space_and_predictions(setting, updates):
    _, data, _, old, _ = setting
    assert updates["independent"].index_space == "coldbrew"
    assert updates["compatible"].index_space == "mlp1"
    for r in updates.values():
        assert r.pred.shape == (data.num_nodes,) and r.old_pred.shape == (data.num_nodes,)
        assert r.student is not old
    want = old.predict(data.x, self_index=torch.arange(data.num_nodes))
    assert torch.equal(updates["compatible"].old_pred, want)


def test_independent_is_an_ordinary_student(setting, updates):
    _, data, config, _, _ = setting
    plain = run_coldbrew(data, config, seed=100)["models"]["ColdBrew"]["pred"]
    assert torch.equal(updates["independent"].pred, plain)


def test_bad_inputs_raise(setting):
    _, data, config, old, old_index = setting
    narrow = data.clone()
    narrow.x = data.x[:, :5]
    with pytest.raises(ValueError, match=rf"width {data.x.size(1)} but data.x has width 5"):
        train_update(narrow, old, old_index, config, 1)
    with pytest.raises(ValueError, match="old_index has width 3"):
        train_update(data, old, old_index[:, :3], config, 1)
    with pytest.raises(ValueError, match=r"old_index has 10 rows"):
        train_update(data, old, old_index[:10], config, 1)
    with pytest.raises(ValueError, match="unknown mode 'bct'"):
        train_update(data, old, old_index, config, 1, mode="bct")
    with pytest.raises(ValueError, match=r"compat_weight must be >= 0 \(got -1"):
        train_update(data, old, old_index, config, 1, mode="compatible", compat_weight=-1.0)
    wide = ColdBrewConfig.from_dict({**CONFIG, "teacher_hidden": 8})
    with pytest.raises(ValueError, match="MLP1 has width .* but the old index has width"):
        train_update(data, old, old_index, wide, 1, mode="compatible")


def test_compatible_mlp2_trains_the_full_budget(setting):
    """With early stopping on, the compatible MLP2 still runs every epoch and keeps the last one (validation's flip
    signal is too small to stop on); the independent student keeps run_coldbrew's early stopping."""
    _, data, _, old, old_index = setting
    config = ColdBrewConfig.from_dict({**CONFIG, "patience": 3})
    runs = {}
    for mode in ("independent", "compatible"):
        epochs = []
        res = train_update(
            data,
            old,
            old_index,
            config,
            100,
            mode=mode,
            on_epoch=lambda st, ep, m: epochs.append(ep) if st == "ColdBrew/mlp2" else None,
        )
        runs[mode] = (len(epochs), res.run["models"]["ColdBrew"]["best_epoch"])
    assert runs["compatible"] == (CONFIG["epochs"], CONFIG["epochs"])
    assert runs["independent"][0] < CONFIG["epochs"]  # stopped early: the compatible run's length is not the default
    assert runs["independent"][1] < runs["independent"][0]


def test_focal_filter_is_the_old_confidence_off_the_labels(setting, monkeypatch):
    """PCT's filter [old right] where a training label tells, the old model's max softmax elsewhere."""
    import graphlearn.methods.coldbrew.update as update  # noqa: PLC0415

    _, data, _, old, old_index = setting
    seen = []
    real = update.focal_distillation_loss

    def spy(logits, old_logits, old_correct, **kw):
        seen.append((old_logits.detach().clone(), old_correct.detach().clone()))
        return real(logits, old_logits, old_correct, **kw)

    monkeypatch.setattr(update, "focal_distillation_loss", spy)
    short = ColdBrewConfig.from_dict({**CONFIG, "epochs": 2})
    train_update(data, old, old_index, short, 100, mode="compatible")
    logits, weight = seen[0]
    with torch.no_grad():
        want_logits = old.logits(data.x, self_index=torch.arange(data.num_nodes))
    fit = (node_degree(data.edge_index, data.num_nodes) > 0) & ~data.val_mask  # the distilled nodes (fit_mask)
    assert torch.allclose(logits, want_logits[fit], atol=1e-5)
    conf = want_logits[fit].softmax(-1).max(-1).values
    right = (want_logits[fit].argmax(-1) == data.y[fit]).float()
    tr = data.train_mask[fit]
    assert torch.allclose(weight[tr], right[tr]) and torch.allclose(weight[~tr], conf[~tr], atol=1e-6)
    assert bool(((weight[~tr] > 0) & (weight[~tr] < 1)).all())


def test_losses():
    z = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert float(influence_loss(z, torch.tensor([[2.0, 0.0], [1.0, 0.0]]))) == pytest.approx(0.5)
    assert float(influence_loss(z[:0], z[:0])) == 0.0
    old = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    new = torch.tensor([[0.0, 2.0], [0.0, 2.0]])
    right = focal_distillation_loss(new, old, torch.tensor([True, False]))
    wrong = focal_distillation_loss(new, old, torch.tensor([False, False]))
    assert float(right) == pytest.approx(6.0 * float(wrong))  # only node 0 disagrees: weight 1 + 5
    assert float(focal_distillation_loss(old, old, torch.tensor([True, True]))) == pytest.approx(0.0, abs=1e-6)
    # A probability of being right (unlabelled nodes: the old model's confidence) weights in between.
    half = focal_distillation_loss(new, old, torch.tensor([0.5, 0.0]))
    assert float(half) == pytest.approx(3.5 * float(wrong))  # 1 + 5 * 0.5
