"""The cold-start validation set and the search of the Cold Brew student's setting on it (coldbrew.tune)."""

from __future__ import annotations

import math

import pytest
import torch

from graphlearn.data.splits import ColdStartSplit, node_degree, val_group_masks
from graphlearn.methods.coldbrew import ColdBrewConfig, run_coldbrew
from graphlearn.methods.coldbrew.tune import candidate_settings, check_space, choose, parse_space, summary
from tests.methods.test_coldbrew import make_community_graph

CFG = dict(teacher_hidden=16, student_hidden=16, k=3, epochs=15, patience=None, lp_layers=5)


@pytest.fixture
def split():
    data = make_community_graph(n=120)
    return data, ColdStartSplit(head=0.2, tail=0.2, isolated=0.3, seed=0)(data)


def test_cold_start_validation_set_is_isolated_like_the_test_group(split):
    data, out = split
    cold = out.val_isolated_mask
    assert torch.equal(cold, data.val_mask & out.isolated_mask) and int(cold.sum()) > 0
    # no edge of theirs in the training graph (so none reaches a teacher, a candidate set or a fitted set) ...
    assert not bool(cold[out.edge_index[0]].any()) and not bool(cold[out.edge_index[1]].any())
    assert not bool((node_degree(out.edge_index, out.num_nodes) > 0)[cold].any())
    # ... and no label of theirs in training or early stopping
    assert not bool((cold & out.train_mask).any()) and not bool((cold & out.val_mask).any())
    assert not bool((cold & out.test_mask).any())
    assert out.split_info["cold_validation"] == int(cold.sum())
    groups = val_group_masks(out)
    assert set(groups) == {"overall", "head", "tail", "isolated"}
    assert torch.equal(groups["isolated"], cold) and torch.equal(groups["tail"], out.val_mask & out.tail_mask)


def test_candidates_are_the_configured_setting_then_distinct_seeded_draws():
    cfg = ColdBrewConfig(**CFG)
    space = {"k": (3, 5, 7), "temperature": (0.1, 1.0)}
    a = candidate_settings(cfg, 4, seed=1, space=space)
    assert a[0] == {} and len(a) == 4
    assert a == candidate_settings(cfg, 4, seed=1, space=space)  # seeded
    # one change at a time first (3 such here: k 5 or 7, temperature 1.0), then joint draws
    assert all(len(d) == 1 for d in a[1:4]) and {tuple(d.items()) for d in a[1:4]} == {
        (("k", 5),),
        (("k", 7),),
        (("temperature", 1.0),),
    }
    draws = [tuple(sorted(d.items())) for d in a[1:]]
    assert len(set(draws)) == 3 and (("k", 3), ("temperature", 0.1)) not in draws  # the configured one not again
    assert len(candidate_settings(cfg, 50, space=space)) == 6  # a space smaller than the budget: all of it
    assert candidate_settings(cfg, 1) == [{}]


def test_choose_pools_the_cold_start_scores_over_seeds():
    nan = math.nan
    # candidate 1 wins one seed by a lot but loses on average; ties on the mean go to validation, then to the index
    scores = [[(70.0, 70.0), (90.0, 60.0), (72.0, 71.0)], [(74.0, 70.0), (50.0, 60.0), (72.0, 71.0)]]
    assert choose(scores) == 2
    assert choose([[(70.0, 70.0), (70.0, 71.0)]]) == 1
    assert choose([[(70.0, 70.0), (70.0, 70.0)]]) == 0
    assert choose([[(nan, 70.0), (60.0, 50.0)], [(80.0, 70.0), (60.0, 50.0)]]) == 0  # a NaN seed is left out
    rows = summary([{}, {"k": 5}], [[(70.0, 70.0), (60.0, 61.0)]], 0)
    assert rows[0]["setting"] == "configured" and rows[0]["kept"] and rows[1]["val"] == 61.0
    with pytest.raises(ValueError, match="cold-start validation set is empty on every seed"):
        choose([[(nan, 70.0)], [(nan, 71.0)]])


def test_run_coldbrew_trains_the_candidates_on_the_same_teachers(split):
    _, data = split
    cfg = ColdBrewConfig(models=("GNN", "GNN+SE", "ColdBrew"), **CFG)
    settings = [{}, {"k": 5, "student_teacher": "GNN+SE"}, {"kd_weight": 1.0}]
    out = run_coldbrew(data, cfg, seed=3, candidates=settings)
    plain = run_coldbrew(data, cfg, seed=3)
    # candidate 0 is the configured student, exactly as without a search; the others are their own rows
    assert torch.equal(out["models"]["ColdBrew"]["pred"], plain["models"]["ColdBrew"]["pred"])
    assert {"ColdBrew/c1", "ColdBrew/c2"} <= set(out["models"]) and "ColdBrew/c1" not in out["trained"]
    for name in ("ColdBrew", "ColdBrew/c1", "ColdBrew/c2"):
        assert "isolated" in out["models"][name]["val_groups"]
    # a candidate is the configured student with its overrides: c1 equals a plain run of that setting
    alone = run_coldbrew(data, cfg.replace(k=5, student_teacher="GNN+SE"), seed=3)
    assert torch.equal(out["models"]["ColdBrew/c1"]["pred"], alone["models"]["ColdBrew"]["pred"])


def test_search_space_parsing_and_bad_input(split):
    _, data = split
    assert parse_space(["k=3,5", "query=features"]) == {"k": (3, 5), "query": ("features",)}
    with pytest.raises(ValueError, match="key 'kk', which the student does not have"):
        parse_space(["kk=3"])
    with pytest.raises(ValueError, match="key 'epochs', which the student does not have"):
        check_space({"epochs": (3,)})
    with pytest.raises(ValueError, match=r"k=0 is invalid: .*k must be >= 1"):
        parse_space(["k=0,3"])
    with pytest.raises(ValueError, match="no value for 'k'"):
        parse_space(["k="])
    with pytest.raises(ValueError, match=r"budget must be an integer >= 1 candidate \(got 0\)"):
        candidate_settings(ColdBrewConfig(), 0)
    cfg = ColdBrewConfig(models=("GNN", "ColdBrew"), **CFG)
    with pytest.raises(ValueError, match=r"candidate 1 .* is invalid: .*needs its teacher \(GNN\+SE\)"):
        run_coldbrew(data, cfg, candidates=[{}, {"student_teacher": "GNN+SE"}])


def test_feature_head_is_opt_in_and_blends_a_distilled_feature_mlp(split, tmp_path):
    from graphlearn.methods.coldbrew import load, save

    _, data = split
    # a fixed head weight, no blend chosen after training (tests/methods/coldbrew/test_memory.py covers those)
    cfg = ColdBrewConfig(models=("GNN", "ColdBrew"), **CFG, feature_head_weights=(), memory_weights=())
    plain = run_coldbrew(data, cfg, seed=0)["trained"]["ColdBrew"]
    assert plain.mlp3 is None and "feature_head" not in plain.hparams  # off: files as before
    half = run_coldbrew(data, cfg.replace(feature_head=0.5), seed=0)
    student = half["trained"]["ColdBrew"]
    # MLP1 and MLP2 are trained exactly as without the head; the head changes only the blend
    for a, b in zip(plain.parameters(), [*student.mlp1.parameters(), *student.mlp2.parameters()]):
        assert torch.equal(a, b)
    x = data.x[:7]
    p2 = torch.softmax(plain.logits(x), -1)
    p3 = torch.softmax(student.mlp3.eval()(x), -1)
    assert torch.allclose(student.logits(x).exp(), 0.5 * p2 + 0.5 * p3, atol=1e-5)
    assert torch.allclose(student.serving()(x), student.logits(x), atol=1e-5)  # the exported module agrees
    assert torch.allclose(student.logits(x[:1]), student.logits(x)[:1], atol=1e-5)  # one new node: same answer
    save(student, tmp_path / "s.pt")
    assert torch.allclose(load(tmp_path / "s.pt").logits(x), student.logits(x))
    alone = run_coldbrew(data, cfg.replace(feature_head=1.0), seed=0)["trained"]["ColdBrew"]
    assert torch.allclose(alone.logits(x), torch.log_softmax(alone.mlp3(x), -1), atol=1e-6)
    with pytest.raises(ValueError, match="feature_head must be <= 1"):
        cfg.replace(feature_head=1.5)
