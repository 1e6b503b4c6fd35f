"""The feature head as an ensemble (``feature_heads``): several MLP3s, their class probabilities averaged, in every
path that answers (the torch forward, the one-row NumPy pass, the serving twin, a saved and loaded student)."""

from __future__ import annotations

import pytest
import torch

from graphlearn.data.splits import ColdStartSplit
from graphlearn.methods.coldbrew import ColdBrewConfig, load, run_coldbrew, save
from tests.methods.test_coldbrew import make_community_graph

CFG = dict(models=("GNN", "ColdBrew"), teacher_hidden=16, student_hidden=16, k=4, epochs=15, patience=None)


@pytest.fixture(scope="module")
def split():
    return ColdStartSplit(head=0.2, tail=0.2, isolated=0.3, seed=0)(make_community_graph(n=120))


@pytest.fixture(scope="module")
def runs(split):
    grid = dict(memory_weights=(0.0, 0.5), feature_head_weights=(0.0, 0.5, 1.0))
    one = run_coldbrew(split, ColdBrewConfig(**CFG, **grid, feature_head=0.5), seed=0)
    seen = set()
    cfg = ColdBrewConfig(**CFG, **grid, feature_head=0.5, feature_heads=3)
    three = run_coldbrew(split, cfg, seed=0, on_epoch=lambda stage, epoch, metrics: seen.add(stage))
    three["stages"] = seen
    return one, three


def test_heads_are_trained_apart_and_the_first_is_the_single_heads_student(runs):
    one, three = runs
    s1, s3 = one["trained"]["ColdBrew"], three["trained"]["ColdBrew"]
    assert len(s1.heads()) == 1 and len(s3.heads()) == 3
    assert "feature_heads" not in s1.hparams and s3.hparams["feature_heads"] == 3
    assert not any(k.startswith("mlp3_more") for k in s1.state_dict())  # one head: files keep their keys
    # MLP1 / MLP2 and the first head are those of the one-head student; the other heads differ from it
    for a, b in zip([*s1.mlp1.parameters(), *s1.mlp2.parameters(), *s1.mlp3.parameters()],
                    [*s3.mlp1.parameters(), *s3.mlp2.parameters(), *s3.mlp3.parameters()]):  # fmt: skip
        assert torch.equal(a, b)
    w = [h.lins[0].weight for h in s3.heads()]
    assert not torch.equal(w[0], w[1]) and not torch.equal(w[1], w[2])
    assert {"ColdBrew/mlp3", "ColdBrew/mlp3.1", "ColdBrew/mlp3.2"} <= three["stages"]


def test_every_path_answers_with_the_heads_mean(split, runs, tmp_path):
    s = runs[1]["trained"]["ColdBrew"]
    s.set_feature_head(1.0, 1.0)
    s.clear_memory()
    x = split.x[:7] + 0.05
    mean = sum(torch.softmax(h(x), -1) for h in s.heads()) / 3
    assert torch.allclose(s.logits(x).exp(), mean, atol=1e-5)
    s.set_feature_head(0.5, 0.0)
    batch = s.logits(x)
    assert s._one_row() is not None  # one new node: the NumPy pass, the heads included
    assert torch.allclose(s.logits(x[:1]), batch[:1], atol=1e-5)
    assert torch.allclose(s.serving()(x), batch, atol=1e-5)
    save(s, tmp_path / "s.pt")
    back = load(tmp_path / "s.pt")
    assert len(back.heads()) == 3 and torch.allclose(back.logits(x), batch, atol=1e-6)
    s.set_feature_head(0.0, 0.0)  # no head: all three removed
    assert s.heads() == [] and not any(k.startswith("mlp3") for k in s.state_dict())


def test_bad_head_counts_are_refused_by_name():
    with pytest.raises(ValueError, match="feature_heads"):
        ColdBrewConfig(feature_heads=0)
    from graphlearn.methods.coldbrew import ColdBrewStudent

    with pytest.raises(ValueError, match=r"feature_heads must be an integer >= 1 \(got 2.5\)"):
        ColdBrewStudent(8, 4, 3, feature_head=1.0, feature_heads=2.5)
