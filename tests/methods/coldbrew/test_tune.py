"""The cold-start validation set and the Cold Brew student's search on it (graphlearn.methods.coldbrew.tune)."""

from __future__ import annotations

import pytest
import torch

from graphlearn.data.splits import ColdStartSplit, node_degree, val_group_masks
from graphlearn.methods.coldbrew import ColdBrewConfig, run_coldbrew
from graphlearn.methods.coldbrew.run import UNTUNED
from graphlearn.methods.coldbrew.tune import check_space, parse_space
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
    # the test groups are those of the rule, unchanged by the new set
    assert not bool((cold & out.test_mask).any())
    assert out.split_info["cold_validation"] == int(cold.sum())
    groups = val_group_masks(out)
    assert set(groups) == {"overall", "head", "tail", "isolated"}
    assert torch.equal(groups["isolated"], cold) and torch.equal(groups["tail"], out.val_mask & out.tail_mask)


def test_search_keeps_the_best_on_the_cold_start_validation_set_and_reports_the_configured_student(split):
    _, data = split
    cfg = ColdBrewConfig(models=("GNN", "GNN+SE", "ColdBrew"), **CFG)
    trials = []
    out = run_coldbrew(data, cfg, seed=3, tune={"trials": 4, "on_trial": trials.append})
    tune = out["tune"]
    assert len(tune["trials"]) == 4 == len(trials)
    assert len({tuple(sorted(t["params"].items())) for t in tune["trials"]}) == 4  # a repeat is not counted
    # the first trial is the configured setting (the teacher "auto" picked) ...
    first = tune["trials"][0]["params"]
    assert first["k"] == cfg.k and first["kd_weight"] == cfg.kd_weight and first["query"] == cfg.query
    # ... so the unsearched student is reported beside the kept one, with the numbers of a run without a search
    plain = run_coldbrew(data, cfg, seed=3)
    assert torch.equal(out["models"][UNTUNED]["pred"], plain["models"]["ColdBrew"]["pred"])
    # the kept trial is the best on the cold-start validation set (ties: the whole validation set)
    best = max(tune["trials"], key=lambda t: (t["val_isolated"], t["val"]))
    assert tune["best"] == best["params"]
    assert out["models"]["ColdBrew"]["val_groups"]["isolated"] == pytest.approx(best["val_isolated"])
    assert out["student_teacher"] == best["params"]["student_teacher"]
    # seeded: the same search again
    again = run_coldbrew(data, cfg, seed=3, tune={"trials": 4})
    assert again["tune"]["trials"] == tune["trials"]
    assert torch.equal(again["models"]["ColdBrew"]["pred"], out["models"]["ColdBrew"]["pred"])


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
    cfg = ColdBrewConfig(models=("GNN", "ColdBrew"), **CFG)
    with pytest.raises(ValueError, match=r"budget must be an integer >= 1 trial \(got 0\)"):
        run_coldbrew(data, cfg, tune={"trials": 0})
    with pytest.raises(ValueError, match=r"student_teacher='GNN\+SE' is invalid: .*needs its teacher"):
        run_coldbrew(data, cfg, tune={"trials": 2, "space": {"student_teacher": ("GNN+SE",)}})
    no_cold = ColdStartSplit(head=0.2, tail=0.2, isolated=0.3, seed=0)(make_community_graph(n=120))
    no_cold.val_isolated_mask = torch.zeros_like(no_cold.val_isolated_mask)
    with pytest.raises(ValueError, match="cold-start validation set is empty"):
        run_coldbrew(no_cold, cfg, tune={"trials": 2})
