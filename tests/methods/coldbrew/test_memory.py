"""The student's blend, chosen after training on the matching validation group (``fit_blend``): the label memory (a
retrieval branch over the candidates' class distributions, ``ColdBrewConfig.memory_weights``) and the feature head's
weights (``feature_head_weights``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphlearn.data.splits import ColdStartSplit, node_degree
from graphlearn.methods.coldbrew import ColdBrewConfig, load, run_coldbrew, save
from graphlearn.methods.coldbrew.run import NO_MEMORY, PLAIN, fit_blend
from tests.methods.test_coldbrew import make_community_graph

CFG = dict(models=("GNN", "ColdBrew"), teacher_hidden=16, student_hidden=16, k=4, epochs=15, patience=None)
GRID = (0.0, 0.25, 0.5, 1.0)


@pytest.fixture(scope="module")
def split():
    return ColdStartSplit(head=0.2, tail=0.2, isolated=0.3, seed=0)(make_community_graph(n=120))


@pytest.fixture(scope="module")
def runs(split):
    off = run_coldbrew(split, ColdBrewConfig(**CFG, memory_weights=(0.0,), feature_head_weights=()), seed=0)
    on = run_coldbrew(split, ColdBrewConfig(**CFG, memory_weights=GRID, feature_head_weights=()), seed=0)
    return off, on


def _labels(data, teacher_logits):
    labels = torch.softmax(teacher_logits, -1)
    labels[data.train_mask] = F.one_hot(data.y[data.train_mask], labels.size(1)).float()
    return labels


def test_memory_off_is_the_student_exactly_as_before(runs):
    off, on = runs
    plain = off["trained"]["ColdBrew"]
    assert "blend" not in off and NO_MEMORY not in off["models"] and PLAIN not in off["models"]
    assert not plain.has_memory and "candidate_labels" not in plain.state_dict()  # files keep their keys
    assert "memory_weight" not in plain.hparams
    # the memory is fitted after training: MLP1 / MLP2 are the same, and the ablation row is the plain student
    student = on["trained"]["ColdBrew"]
    for a, b in zip(plain.parameters(), student.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(on["models"][NO_MEMORY]["pred"], off["models"]["ColdBrew"]["pred"])


def test_memory_is_the_neighbours_class_distributions_blended_by_group(split, runs):
    _, on = runs
    student, info = on["trained"]["ColdBrew"], on["blend"]
    chosen = (info["memory_weight"], info["memory_weight_linked"])
    assert (student.memory_weight, student.memory_weight_linked) == chosen
    teacher = on["models"]["GNN"]["logits"]
    student.set_memory(_labels(split, teacher), 0.25, 0.75)
    labels = _labels(split, teacher)[student.candidate_index]
    assert torch.allclose(student.candidate_labels, labels)
    # the memory of a new node: the k feature-nearest candidates' distributions, softmax(cos / T) weights
    x = split.x[:9] + 0.1
    xn, keys = F.normalize(x, dim=-1), F.normalize(student.candidate_features, dim=-1)
    top, index = (xn @ keys.t()).topk(student.k, dim=-1)
    expected = (torch.softmax(top / student.temperature, -1).unsqueeze(-1) * labels[index]).sum(1)
    assert torch.allclose(student.memory_probs(x), expected, atol=1e-5)
    # a new node (no edges) blends with memory_weight; a candidate known by self_index with memory_weight_linked
    plain = student.__class__(**{**student.hparams, "memory_weight": 0.0, "memory_weight_linked": 0.0})
    state = {k: v for k, v in student.state_dict().items() if k != "candidate_labels"}
    plain.load_state_dict(state)
    own = torch.softmax(plain.logits(x), -1)
    assert torch.allclose(student.logits(x).exp(), 0.75 * own + 0.25 * expected, atol=1e-5)
    node = student.candidate_index[:3]
    own_c = torch.softmax(plain.logits(split.x[node], self_index=node), -1)
    mem_c = student.memory_probs(split.x[node], self_index=node)
    assert torch.allclose(student.logits(split.x[node], self_index=node).exp(), 0.25 * own_c + 0.75 * mem_c, atol=1e-5)
    assert torch.allclose(student.serving()(x), student.logits(x), atol=1e-5)  # the exported module agrees
    assert student._one_row() is not None  # one new node: the NumPy pass, with the memory, and the same answer
    assert torch.allclose(student.logits(x[:1]), student.logits(x)[:1], atol=1e-5)


def test_saved_student_keeps_its_memory(runs, tmp_path):
    student = runs[1]["trained"]["ColdBrew"]
    student.set_memory(torch.full((student.teacher_embeddings.size(0), student.out_channels), 1 / 3), 0.5, 0.0)
    save(student, tmp_path / "s.pt")
    back = load(tmp_path / "s.pt")
    assert back.memory_weight == 0.5 and back.memory_weight_linked == 0.0
    x = torch.randn(5, student.in_channels)
    assert torch.allclose(back.logits(x), student.logits(x))


def test_weights_are_chosen_on_the_matching_validation_group_never_on_test(split, runs):
    _, on = runs
    student, teacher = on["trained"]["ColdBrew"], on["models"]["GNN"]["logits"]
    info = fit_blend(student, split, teacher, GRID)
    for group, key in (("isolated", "memory_weight"), ("linked", "memory_weight_linked")):
        scores = {float(k.split("memory=")[1]): v for k, v in info["val"][group].items()}
        best = max(scores.values())
        assert scores[info[key]] == best and info[key] == min(w for w, s in scores.items() if s == best)
    # the cold-start validation set scores the no-edge weight, validation nodes with edges the other
    linked = node_degree(split.edge_index, split.num_nodes) > 0
    assert not bool((split.val_isolated_mask & linked).any())
    # test labels are never read: scrambling them changes nothing
    scrambled = split.clone()
    test = scrambled.test_mask
    scrambled.y = scrambled.y.clone()
    scrambled.y[test] = (scrambled.y[test] + 1) % 3
    again = fit_blend(student, scrambled, teacher, GRID)
    assert again["val"] == info["val"]
    # nothing above 0 to try: nothing chosen
    assert fit_blend(student, split, teacher, (0.0,)) is None


def test_feature_head_weights_are_chosen_with_the_memory_and_a_head_at_zero_is_removed(split, runs):
    off = runs[0]
    cfg = ColdBrewConfig(**CFG, memory_weights=GRID, feature_head_weights=GRID)
    out = run_coldbrew(split, cfg, seed=0)
    student, info = out["trained"]["ColdBrew"], out["blend"]
    # MLP1 / MLP2 are those of the plain student (the head is trained after them); the plain row is MLP2 alone
    plain = off["trained"]["ColdBrew"]
    for a, b in zip(plain.parameters(), [*student.mlp1.parameters(), *student.mlp2.parameters()]):
        assert torch.equal(a, b)
    assert torch.equal(out["models"][PLAIN]["pred"], off["models"]["ColdBrew"]["pred"])
    grid = {(w, a) for w in GRID for a in GRID}
    for group in ("isolated", "linked"):
        assert len(info["val"][group]) == len(grid)
    best = max(info["val"]["isolated"].values())
    assert info["val"]["isolated"][f"head={info['feature_head']:g} memory={info['memory_weight']:g}"] == best
    assert (student.feature_head, student.feature_head_linked) == (info["feature_head"], info["feature_head_linked"])
    assert (student.mlp3 is None) == (info["feature_head"] == 0 and info["feature_head_linked"] == 0)
    # a student with a (fixed) head: its weights per group, the one-row pass, and a head set to 0 is removed
    student = run_coldbrew(split, cfg.replace(feature_head=1.0), seed=0)["trained"]["ColdBrew"]
    assert student.mlp3 is not None
    student.set_memory(torch.full((split.num_nodes, 3), 1 / 3), 0.0, 0.0)
    student.set_feature_head(1.0, 0.0)
    x = split.x[:6] + 0.1
    assert torch.allclose(student.logits(x), torch.log_softmax(student.mlp3(x), -1), atol=1e-5)
    node = student.candidate_index[:2]
    plain_c = plain.logits(split.x[node], self_index=node)
    assert torch.allclose(student.logits(split.x[node], self_index=node).exp(), torch.softmax(plain_c, -1), atol=1e-5)
    student.set_feature_head(0.5, 0.0)
    student.set_memory(torch.full((split.num_nodes, 3), 1 / 3), 0.2, 0.0)
    assert student._one_row() is not None  # one new node through the NumPy pass: head and memory blended
    assert torch.allclose(student.logits(x[:1]), student.logits(x)[:1], atol=1e-5)
    student.set_feature_head(0.0, 0.0)
    assert student.mlp3 is None and "feature_head" not in student.hparams
    assert not any(k.startswith("mlp3.") for k in student.state_dict())
    with pytest.raises(ValueError, match="no feature head"):
        plain.set_feature_head(0.5, 0.0)
    with pytest.raises(ValueError, match=r"feature_head_weights must lie in \[0, 1\] \(got 2"):
        ColdBrewConfig(feature_head_weights=(2.0,))


def test_bad_memory_input_is_refused_by_name(runs):
    student = runs[1]["trained"]["ColdBrew"]
    n, c = student.teacher_embeddings.size(0), student.out_channels
    with pytest.raises(ValueError, match=r"labels must have shape \[120, 3\] \(got \[5, 3\]\)"):
        student.set_memory(torch.full((5, c), 1 / 3), 0.5, 0.5)
    with pytest.raises(ValueError, match="finite, non-negative"):
        student.set_memory(torch.full((n, c), float("nan")), 0.5, 0.5)
    with pytest.raises(ValueError, match="must sum to 1"):
        student.set_memory(torch.ones(n, c), 0.5, 0.5)
    with pytest.raises(ValueError, match=r"weight must be a number in \[0, 1\] \(got 1.5\)"):
        student.set_memory(torch.full((n, c), 1 / 3), 1.5, 0.0)
    with pytest.raises(ValueError, match=r"memory_weights must lie in \[0, 1\] \(got -0.1"):
        ColdBrewConfig(memory_weights=(0.0, -0.1))
    plain = runs[0]["trained"]["ColdBrew"]
    with pytest.raises(RuntimeError, match="no label memory"):
        plain.memory_probs(torch.randn(2, plain.in_channels))


def test_nll_criterion_scores_each_pair_by_the_true_labels_log_likelihood(split, runs):
    off, on = runs
    student, teacher = on["trained"]["ColdBrew"], on["models"]["GNN"]["logits"]
    info = fit_blend(student, split, teacher, GRID, criterion="nll")
    # recomputed here: minus the mean log-probability of the true label on the cold-start validation set
    plain_p = torch.softmax(off["models"]["ColdBrew"]["logits"], -1)
    student.set_memory(_labels(split, teacher), 1.0, 1.0)
    n = split.num_nodes
    mem = student.memory_probs(split.x, self_index=torch.arange(n))
    cold = split.val_isolated_mask
    for a in GRID:
        p = (1 - a) * plain_p + a * mem
        want = float(p[cold].gather(1, split.y[cold].unsqueeze(1)).clamp_min(1e-30).log().mean())
        assert info["val"]["isolated"][f"head=0 memory={a:g}"] == pytest.approx(want, abs=1e-5)
    best = max(info["val"]["isolated"].values())
    assert info["val"]["isolated"][f"head=0 memory={info['memory_weight']:g}"] == best
    # chosen again from whatever memory the student holds: the same scores (MLP2's numbers without the memory)
    assert fit_blend(student, split, teacher, GRID, criterion="nll")["val"] == info["val"]
    student.clear_memory()
    assert not student.has_memory and "candidate_labels" not in student.state_dict()
    assert torch.equal(student.logits(split.x).argmax(-1), off["trained"]["ColdBrew"].logits(split.x).argmax(-1))
    with pytest.raises(ValueError, match=r"criterion must be one of \('accuracy', 'nll'\) \(got 'auc'\)"):
        fit_blend(student, split, teacher, GRID, criterion="auc")


def test_the_default_scores_the_no_edge_pair_by_log_likelihood_and_the_other_by_accuracy(runs):
    _, on = runs  # ColdBrewConfig's default blend_isolated_criterion
    assert ColdBrewConfig().blend_isolated_criterion == "nll"
    iso, linked = on["blend"]["val"]["isolated"].values(), on["blend"]["val"]["linked"].values()
    assert all(v <= 0 for v in iso) and len(set(iso)) > 1  # log-likelihoods, one per weight
    assert all(0 <= v <= 100 for v in linked) and any(v > 1 for v in linked)  # accuracies in %
    with pytest.raises(ValueError, match="blend_isolated_criterion"):
        ColdBrewConfig(blend_isolated_criterion="auc")
