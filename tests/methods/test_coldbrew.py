"""Cold Brew library: teacher, virtual neighbours, student, GLNN, FCR, run (model files: tests/test_model_io.py)."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from graphlearn import sparse
from graphlearn.data.splits import ColdStartSplit, stratified_split
from graphlearn.methods.coldbrew import (
    ColdBrewConfig,
    ColdBrewStudent,
    ColdBrewTeacher,
    MLPClassifier,
    feature_contribution_ratio,
    kd_loss,
    label_propagation,
    load,
    run_coldbrew,
    save,
    train_glnn,
    train_teacher,
    virtual_neighbors,
)
from graphlearn.training import seed_everything

FAST = dict(epochs=30, patience=None)


#: the blend's ablation rows (graphlearn.methods.coldbrew.run.fit_blend), present when a blend was tried
ABLATIONS = ("ColdBrew-no-memory", "ColdBrew-plain")


def make_community_graph(n: int = 60, classes: int = 3, feats: int = 8, seed: int = 0) -> Data:
    """Stochastic block model: features carry a noisy class signal, edges are
    mostly within a class."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, feats, generator=gen)
    x[torch.arange(n), y] += 2.0
    p = torch.where(y.view(-1, 1) == y.view(1, -1), 0.2, 0.02)
    upper = torch.triu(torch.rand(n, n, generator=gen) < p, diagonal=1)
    edge_index = to_undirected(upper.nonzero().t(), num_nodes=n)
    data = Data(x=x, y=y, edge_index=edge_index)
    data.train_mask = data.val_mask = data.test_mask = torch.zeros(n, dtype=torch.bool)
    data.name, data.num_classes = "community", classes
    return stratified_split(data, train=0.4, val=0.2, seed=seed)


@pytest.fixture
def graph() -> Data:
    return make_community_graph()


@pytest.fixture
def cold_graph() -> Data:
    return ColdStartSplit(head=0.2, tail=0.2, isolated=0.2, seed=0)(make_community_graph())


def fitted_student(data: Data, **kwargs) -> ColdBrewStudent:
    seed_everything(0)
    teacher = ColdBrewTeacher(data.x.size(1), 16, 3, data.num_nodes, se_layers=(0,))
    train_teacher(teacher, data.x, data.edge_index, data.y, data.train_mask, data.val_mask, **FAST)
    emb = teacher.embed(data.x, data.edge_index)
    cand = torch.zeros(data.num_nodes, dtype=torch.bool)
    cand[data.edge_index[0]] = True
    student = ColdBrewStudent(data.x.size(1), emb.size(1), 3, hidden_channels=32, k=3, **kwargs)
    student.history = student.fit(
        data.x, data.y, emb, train_mask=data.train_mask, val_mask=data.val_mask, candidate_mask=cand, **FAST
    )
    return student


# ----------------------------------------------------------------- teacher
def test_teacher_with_and_without_structural_embedding(graph):
    n = graph.num_nodes
    plain = ColdBrewTeacher(8, 16, 3, n, num_layers=3, se_layers=())
    se = ColdBrewTeacher(8, 16, 3, n, num_layers=3, se_layers=(0, 2))
    assert len(plain.se) == 0 and plain.se_penalty().item() == 0.0
    assert sorted(se.se.keys()) == ["0", "2"]
    assert se.se["0"].shape == (n, 16) and se.se["2"].shape == (n, 3)
    assert se.se_penalty().item() == 0.0  # initialised at zero
    with torch.no_grad():
        se.se["0"].fill_(1.0)
    assert se.se_penalty().item() == pytest.approx(16.0)  # mean squared row norm
    for model in (plain, se):
        assert model(graph.x, graph.edge_index).shape == (n, 3)
        emb = model.embed(graph.x, graph.edge_index)
        assert emb.shape == (n, 16 + 16 + 3) == (n, model.embed_channels)
    # SE parameters are kept out of the weight decay
    groups = se.parameter_groups(5e-4)
    assert groups[1]["weight_decay"] == 0.0 and len(groups[1]["params"]) == 2
    assert "se_layers=(0, 2)" in repr(se)


def test_se_term_reaches_output_through_propagation():
    # 3-node path 0-1-2, GCN normalisation with self-loops; E only on node 0.
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    model = ColdBrewTeacher(2, 4, 2, 3, num_layers=1, se_layers=(0,), dropout=0.0).eval()
    x = torch.zeros(3, 2)
    base = model(x, edge_index)
    with torch.no_grad():
        model.se["0"][0] = 1.0
    delta = model(x, edge_index) - base
    # A_hat[i, 0] = 1 / sqrt(d_i d_0) with d = (2, 3, 2) counting self-loops
    expected = torch.tensor([1 / 2, 1 / math.sqrt(6), 0.0]).view(-1, 1).expand(3, 2)
    assert torch.allclose(delta, expected, atol=1e-6)


@pytest.mark.parametrize("conv", ["gcn", "sage"])
def test_teacher_without_se_equals_pyg_layers(conv, graph):
    """The sparse-operator forward gives what PyG's own GCNConv / SAGEConv give with the same weights,
    whether the operator is built per call (edge_index) or once (teacher.operator)."""
    from torch_geometric.nn import GCNConv, SAGEConv  # noqa: PLC0415

    torch.manual_seed(0)
    model = ColdBrewTeacher(8, 16, 3, graph.num_nodes, num_layers=2, conv=conv, se_layers=(), dropout=0.0).eval()
    layers = [GCNConv(8, 16), GCNConv(16, 3)] if conv == "gcn" else [SAGEConv(8, 16), SAGEConv(16, 3)]
    for layer, ours in zip(layers, model.convs):
        layer.load_state_dict(ours.state_dict())
    h = graph.x
    expected = []
    for layer in layers:
        h = layer(h, graph.edge_index)
        expected.append(h)
        h = h.relu()
    outs = model.layer_outputs(graph.x, graph.edge_index)
    op = model.operator(graph.edge_index, graph.num_nodes)
    assert op.layout == torch.sparse_csr and op.shape == (graph.num_nodes, graph.num_nodes)
    for got, want in zip(outs, expected):
        assert torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(model(graph.x, op), expected[-1], atol=1e-5)
    with pytest.raises(ValueError, match="propagation operator must be"):
        model(graph.x[:-1], op)


@pytest.mark.parametrize("conv", ["gcn", "sage"])
def test_teacher_on_graph_without_edges(conv, graph):
    empty = torch.empty(2, 0, dtype=torch.long)
    model = ColdBrewTeacher(8, 16, 3, graph.num_nodes, conv=conv, se_layers=(0, 1))
    history = train_teacher(model, graph.x, empty, graph.y, graph.train_mask, graph.val_mask, epochs=5, patience=None)
    out = model(graph.x, empty)
    assert out.shape == (graph.num_nodes, 3) and bool(torch.isfinite(out).all())
    assert history.epochs_run == 5


def test_teacher_validates_inputs(graph):
    with pytest.raises(ValueError, match="'gat'.*gcn"):
        ColdBrewTeacher(8, 16, 3, 10, conv="gat")
    with pytest.raises(ValueError, match=r"se_layers \[2\]"):
        ColdBrewTeacher(8, 16, 3, 10, num_layers=2, se_layers=(2,))
    model = ColdBrewTeacher(8, 16, 3, graph.num_nodes + 1)
    with pytest.raises(ValueError, match=f"{graph.num_nodes + 1} nodes but x has {graph.num_nodes} rows"):
        model(graph.x, graph.edge_index)


def test_teacher_training_is_deterministic(graph):
    outs = []
    for _ in range(2):
        seed_everything(3)
        model = ColdBrewTeacher(8, 16, 3, graph.num_nodes)
        train_teacher(
            model, graph.x, graph.edge_index, graph.y, graph.train_mask, graph.val_mask, epochs=10, patience=None
        )
        outs.append(model(graph.x, graph.edge_index))
    assert torch.equal(outs[0], outs[1])


# ------------------------------------------------------- virtual neighbours
CANDIDATES = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_virtual_neighbors_hand_example(backend):
    query = torch.tensor([[2.0, 1.0]])  # inner products: 2, 1, 3, -2
    vn = virtual_neighbors(query, CANDIDATES, k=2, temperature=1.0, metric="ip", backend=backend)
    assert vn.index.tolist() == [[2, 0]]
    e = math.e
    assert torch.allclose(vn.weight, torch.tensor([[e / (1 + e), 1 / (1 + e)]]))
    expected = (e * CANDIDATES[2] + CANDIDATES[0]) / (1 + e)
    assert torch.allclose(vn.aggregate, expected.view(1, 2))
    # temperature 0.5 doubles the score gap: weights softmax(6, 4)
    vn = virtual_neighbors(query, CANDIDATES, k=2, temperature=0.5, backend=backend)
    assert torch.allclose(vn.weight, torch.softmax(torch.tensor([[6.0, 4.0]]), -1))
    # l2: squared distances 2, 4, 1, 10 -> nearest 2, 0
    vn = virtual_neighbors(query, CANDIDATES, k=2, metric="l2", backend=backend)
    assert vn.index.tolist() == [[2, 0]]
    assert torch.allclose(vn.weight, torch.softmax(torch.tensor([[-1.0, -2.0]]), -1))


def test_virtual_neighbors_exclude_self_and_backends_agree():
    gen = torch.Generator().manual_seed(0)
    cand = torch.randn(50, 6, generator=gen)
    # each candidate queried with itself: its own row must not come back
    exclude = torch.arange(50)
    for metric in ("ip", "cos", "l2"):
        a = virtual_neighbors(cand, cand, k=4, metric=metric, exclude=exclude, backend="torch")
        b = virtual_neighbors(cand, cand, k=4, metric=metric, exclude=exclude, backend="faiss")
        assert not bool((a.index == exclude.view(-1, 1)).any())
        assert torch.equal(a.index, b.index)
        assert torch.allclose(a.weight, b.weight, atol=1e-5)
    # with -1 (no exclusion) the plain top-k is returned
    none = virtual_neighbors(cand, cand, k=4, metric="l2", exclude=torch.full((50,), -1))
    assert torch.equal(none.index, virtual_neighbors(cand, cand, k=4, metric="l2").index)


@pytest.mark.parametrize("metric", ["ip", "cos", "l2"])
@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_virtual_neighbors_sparse_queries_match_dense(metric, backend, monkeypatch):
    from graphlearn.methods.coldbrew import neighbors  # noqa: PLC0415

    monkeypatch.setattr(neighbors, "_CHUNK", 7)  # several chunks
    gen = torch.Generator().manual_seed(4)
    feats = (torch.rand(30, 40, generator=gen) < 0.1).float() * torch.rand(30, 40, generator=gen)
    feats[5] = 0.0  # an empty row
    cand = torch.rand(25, 40, generator=gen)
    exclude = torch.arange(30) % 25
    dense = virtual_neighbors(feats, cand, k=3, metric=metric, exclude=exclude, backend=backend)
    csr = virtual_neighbors(feats.to_sparse_csr(), cand, k=3, metric=metric, exclude=exclude, backend=backend)
    assert torch.equal(dense.index, csr.index)
    assert torch.allclose(dense.weight, csr.weight, atol=1e-5)
    assert torch.allclose(
        sparse.normalize_rows(feats.to_sparse_csr()).to_dense(), torch.nn.functional.normalize(feats, dim=-1)
    )


def test_virtual_neighbors_errors():
    query = torch.zeros(1, 2)
    with pytest.raises(ValueError, match="K=5 .* only 4 available"):
        virtual_neighbors(query, CANDIDATES, k=5)
    with pytest.raises(ValueError, match="K=4 .* only 3 available"):
        virtual_neighbors(query, CANDIDATES, k=4, exclude=torch.tensor([0]))
    with pytest.raises(ValueError, match="candidate set is empty"):
        virtual_neighbors(query, torch.empty(0, 2), k=1)
    with pytest.raises(ValueError, match="'dot'"):
        virtual_neighbors(query, CANDIDATES, k=1, metric="dot")


# ------------------------------------------------------------------ student
def test_student_mlp1_regresses_teacher_embedding(cold_graph):
    student = fitted_student(cold_graph)
    curve = [m["loss"] for m in student.history["mlp1"].curve]
    assert curve[-1] < 0.5 * curve[0]
    assert student.history["mlp2"].epochs_run == FAST["epochs"]
    # candidates = nodes with a neighbourhood; isolated nodes are never candidates
    iso = cold_graph.isolated_mask.nonzero().view(-1)
    assert not bool(torch.isin(student.candidate_index, iso).any())


def test_student_feature_query(cold_graph, tmp_path):
    student = fitted_student(cold_graph, query="features", metric="cos")
    assert student.candidate_features.shape == (student.candidate_index.numel(), 8)
    assert torch.equal(student.candidate_features, cold_graph.x[student.candidate_index])
    new = torch.randn(5, 8, generator=torch.Generator().manual_seed(2))
    loaded = load(save(student, tmp_path / "s.pt"))
    assert loaded.query == "features"
    assert torch.equal(loaded.logits(new), student.logits(new))
    with pytest.raises(ValueError, match="'words'"):
        ColdBrewStudent(8, 4, 3, query="words")


def test_student_cross_fitting_runs(cold_graph):
    student = fitted_student(cold_graph, metric="l2")
    seed_everything(0)
    hist = ColdBrewStudent(8, student.embed_channels, 3, hidden_channels=16, k=2).fit(
        cold_graph.x,
        cold_graph.y,
        student.teacher_embeddings,
        train_mask=cold_graph.train_mask,
        val_mask=cold_graph.val_mask,
        candidate_mask=torch.isin(torch.arange(cold_graph.num_nodes), student.candidate_index),
        mlp1_folds=3,
        epochs=5,
        patience=None,
    )
    assert len(hist["mlp1_folds"]) == 3


def test_student_tcm_regulariser_is_opt_in(cold_graph):
    """tcm_weight=0 (the default) trains exactly as before; > 0 adds pytorch-metric-learning's TCM loss to MLP1's."""
    ref = fitted_student(cold_graph, metric="cos")

    def fit(**kw):
        seed_everything(0)
        s = ColdBrewStudent(8, ref.embed_channels, 3, hidden_channels=16, k=2)
        cand = torch.isin(torch.arange(cold_graph.num_nodes), ref.candidate_index)
        args = dict(train_mask=cold_graph.train_mask, val_mask=cold_graph.val_mask, candidate_mask=cand)
        h = s.fit(cold_graph.x, cold_graph.y, ref.teacher_embeddings, **args, epochs=5, patience=None, **kw)
        return s, h

    plain, h_plain = fit()
    zero, h_zero = fit(tcm_weight=0.0)
    tcm, h_tcm = fit(tcm_weight=5.0, tcm_margins=(0.95, 0.0))
    assert [m["loss"] for m in h_zero["mlp1"].curve] == [m["loss"] for m in h_plain["mlp1"].curve]
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), zero.state_dict().values()))
    assert h_tcm["mlp1"].curve[0]["loss"] > h_plain["mlp1"].curve[0]["loss"]  # the extra term is in the loss
    with pytest.raises(ValueError, match="tcm_weight"):
        fit(tcm_weight=-1.0)
    with pytest.raises(ValueError, match="mlp1_tcm_weight"):
        ColdBrewConfig.from_dict({"mlp1_tcm_weight": -0.5})


def test_student_predicts_unseen_nodes_without_edges(cold_graph):
    student = fitted_student(cold_graph)
    new = torch.randn(7, 8, generator=torch.Generator().manual_seed(1))
    pred = student.predict(new)
    assert pred.shape == (7,) and pred.dtype == torch.int64
    assert torch.equal(pred, student.predict(new))  # no state changed
    assert student.embed(new).shape == (7, student.embed_channels)
    # a new node with real edges: neighbor_mix=0 ignores them, > 0 uses them
    edges = torch.tensor([[0, 0], [int(student.candidate_index[0]), int(student.candidate_index[1])]])
    base = student.logits(new)
    assert torch.allclose(student.logits(new, edges, neighbor_mix=0.0), base)
    mixed = student.logits(new, edges, neighbor_mix=1.0)
    assert not torch.allclose(mixed[0], base[0]) and torch.allclose(mixed[1:], base[1:])
    with pytest.raises(ValueError, match="edge_index\\[1\\] must index the 60"):
        student.logits(new, torch.tensor([[0], [60]]))


def test_student_rejects_bad_features(cold_graph):
    student = fitted_student(cold_graph)
    with pytest.raises(ValueError, match="width 5 but the model was trained on width 8"):
        student.predict(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="torch.float64 but the model was trained on torch.float32"):
        student.predict(torch.zeros(2, 8, dtype=torch.float64))
    bad = torch.zeros(3, 8)
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"NaN/inf in 1 row\(s\), first row 1: \[nan\]"):
        student.embed(bad)
    with pytest.raises(ValueError, match="candidate set is empty"):
        student.set_teacher(
            student.teacher_embeddings, torch.zeros(student.teacher_embeddings.size(0), dtype=torch.bool)
        )
    with pytest.raises(
        ValueError,
        match=r"self_index must be int64 \[2\] with values in "
        r"\[-1, 59\]",
    ):
        student.predict(torch.zeros(2, 8), self_index=torch.tensor([0, 60]))
    fresh = ColdBrewStudent(8, 4, 3)
    with pytest.raises(RuntimeError, match="call fit"):
        fresh.predict(torch.zeros(1, 8))


# --------------------------------------------------------------- GLNN, FCR
def test_kd_loss_and_glnn(cold_graph):
    t = torch.randn(5, 3)
    assert kd_loss(t, t, temperature=2.0).abs().item() < 1e-6
    assert kd_loss(torch.zeros(5, 3), t).item() > 0
    seed_everything(0)
    model, history = train_glnn(
        cold_graph.x,
        cold_graph.y,
        t.new_zeros(60, 3).normal_(),
        train_mask=cold_graph.train_mask,
        val_mask=cold_graph.val_mask,
        lam=0.5,
        temperature=2.0,
        hidden_channels=16,
        **FAST,
    )
    assert isinstance(model, MLPClassifier) and model(cold_graph.x).shape == (60, 3)
    assert history.curve[-1]["loss"] < history.curve[0]["loss"]


@pytest.mark.parametrize(
    "mlp, lp, gnn, expected",
    [
        (60.0, 70.0, 80.0, 100 * 10 / 30),  # GNN above both: features' share
        (0.6, 0.7, 0.8, 100 * 10 / 30),  # fractions work the same
        (85.0, 70.0, 80.0, 100 + 100 * 5 / 15),  # GNN below MLP: > 100
        (60.0, 85.0, 80.0, -100 * 5 / 25),  # GNN below LP: < 0
        (80.0, 70.0, 80.0, 100.0),  # GNN == MLP
        (60.0, 80.0, 80.0, 0.0),  # GNN == LP
    ],
)
def test_feature_contribution_ratio(mlp, lp, gnn, expected):
    assert feature_contribution_ratio(mlp, lp, gnn) == pytest.approx(expected)


def test_feature_contribution_ratio_undefined():
    with pytest.raises(ValueError, match="below both"):
        feature_contribution_ratio(85.0, 82.0, 80.0)
    with pytest.raises(ValueError, match="all equal"):
        feature_contribution_ratio(70.0, 70.0, 70.0)
    with pytest.raises(ValueError, match="acc_lp must be finite"):
        feature_contribution_ratio(70.0, float("nan"), 80.0)


def test_label_propagation(tiny_graph):
    zero = label_propagation(tiny_graph.y, tiny_graph.edge_index, tiny_graph.train_mask, unreachable="zero")
    assert zero.shape == (10, 3)
    assert float(zero[9].abs().sum()) == 0.0  # isolated: nothing reaches it (PyG's behaviour)
    assert zero[:5].argmax(-1).tolist() == tiny_graph.y[:5].tolist()
    # default: an unreachable node gets the training labels' class frequencies, so it predicts the most common one
    mask = torch.zeros(10, dtype=torch.bool)
    mask[[1, 2, 5]] = True  # labels 1, 2, 2: the most common training class is 2, not 0
    out = label_propagation(tiny_graph.y, tiny_graph.edge_index, mask)
    zero = label_propagation(tiny_graph.y, tiny_graph.edge_index, mask, unreachable="zero")
    assert torch.allclose(out[9], torch.tensor([0.0, 1 / 3, 2 / 3])) and int(out[9].argmax()) == 2
    assert torch.equal(out[:9], zero[:9])  # reachable nodes unchanged
    with pytest.raises(ValueError, match="unreachable must be"):
        label_propagation(tiny_graph.y, tiny_graph.edge_index, tiny_graph.train_mask, unreachable="mode")


# ---------------------------------------------------------------- run / config
def test_config_rejects_unknown_keys_and_values():
    with pytest.raises(ValueError, match=r"unknown ColdBrewConfig key\(s\) \['kk'\]"):
        ColdBrewConfig.from_dict({"kk": 3})
    with pytest.raises(ValueError, match="'gat'"):
        ColdBrewConfig(conv="gat")
    with pytest.raises(ValueError, match=r"needs its teacher \(GNN\+SE or GNN\)"):
        ColdBrewConfig(models=("ColdBrew",))
    with pytest.raises(ValueError, match="mlp1_folds must be 0"):
        ColdBrewConfig(mlp1_folds=1)
    cfg = ColdBrewConfig.from_dict({"k": 3, "se_layers": [0, 1]})
    assert cfg.se_layers == (0, 1) and ColdBrewConfig.from_dict(cfg.to_dict()) == cfg


def test_run_coldbrew(cold_graph):
    cfg = ColdBrewConfig(teacher_hidden=16, student_hidden=16, k=3, mlp1_folds=2, epochs=15, patience=None, lp_layers=5)
    seen = set()
    out = run_coldbrew(cold_graph, cfg, seed=1, on_epoch=lambda stage, epoch, metrics: seen.add(stage))
    assert set(out["models"]) - set(ABLATIONS) == {"GNN", "GNN+SE", "MLP", "GLNN", "LP", "ColdBrew"}
    assert seen == {
        "GNN",
        "GNN+SE",
        "MLP",
        "GLNN",
        "ColdBrew/mlp1",
        "ColdBrew/mlp1_fold0",
        "ColdBrew/mlp1_fold1",
        "ColdBrew/mlp2",
        "ColdBrew/mlp3",  # the feature head, weighed after training (fit_blend)
    }
    for name, res in out["models"].items():
        assert res["pred"].shape == (60,) and res["pred"].dtype == torch.int64
        assert set(res["acc"]) == {"overall", "head", "tail", "isolated"}
        assert all(0.0 <= a <= 100.0 for a in res["acc"].values())
    assert out["fcr"] is None or math.isfinite(out["fcr"])
    assert set(out["trained"]) == {"GNN", "GNN+SE", "MLP", "GLNN", "ColdBrew"}
    again = run_coldbrew(cold_graph, cfg, seed=1)
    for name in out["models"]:
        assert torch.equal(out["models"][name]["pred"], again["models"][name]["pred"])


def test_sparse_feature_path_trains_and_predicts_like_dense(cold_graph, monkeypatch):
    """Bag-of-words features take the CSR path (graphlearn.sparse) in the teacher,
    GLNN and student; a student trained that way predicts the same with either path."""
    from graphlearn import sparse

    data = cold_graph.clone()
    data.x = torch.relu(data.x - 1.5)  # mostly zeros, like bag-of-words
    monkeypatch.setattr(sparse.model_input, "__defaults__", (0.5, 0, 0))
    assert sparse.model_input(data.x).layout == torch.sparse_csr
    out = run_coldbrew(data, ColdBrewConfig(epochs=20, patience=None, k=3, student_hidden=16, teacher_hidden=8), seed=0)
    student = out["trained"]["ColdBrew"]
    sparse_logits = student.logits(data.x)
    monkeypatch.setattr(sparse.model_input, "__defaults__", (sparse.MAX_DENSITY, 0, sparse.MIN_COLUMNS))
    assert sparse.model_input(data.x).layout == torch.strided
    assert torch.allclose(student.logits(data.x), sparse_logits, atol=1e-4)
    assert set(out["models"]) - set(ABLATIONS) == {"GNN", "GNN+SE", "MLP", "GLNN", "LP", "ColdBrew"}


@pytest.mark.parametrize("query,metric", [("embedding", "l2"), ("features", "cos"), ("embedding", "ip")])
def test_serving_module_matches_logits_on_new_nodes(cold_graph, query, metric):
    student = fitted_student(cold_graph, query=query, metric=metric)
    x_new = torch.randn(9, cold_graph.x.size(1))
    assert torch.allclose(student.serving()(x_new), student.logits(x_new), atol=1e-5)
    untrained = ColdBrewStudent(4, 3, 2)
    with pytest.raises(RuntimeError, match="no teacher embeddings"):
        untrained.serving()


def test_student_teacher_choice(cold_graph):
    from graphlearn.methods.coldbrew.run import _pick_teacher

    models = {"GNN+SE": {"val_acc": 70.0}, "GNN": {"val_acc": 75.0}}
    assert _pick_teacher("auto", models) == "GNN"
    assert _pick_teacher("auto", {"GNN+SE": {"val_acc": 75.0}, "GNN": {"val_acc": 75.0}}) == "GNN+SE"
    assert _pick_teacher("GNN+SE", models) == "GNN+SE"
    out = run_coldbrew(
        cold_graph,
        ColdBrewConfig(epochs=10, patience=None, k=3, student_teacher="GNN", models=("GNN", "ColdBrew")),
        seed=0,
    )
    assert out["student_teacher"] == "GNN" and set(out["models"]) - set(ABLATIONS) == {"GNN", "ColdBrew"}
    with pytest.raises(ValueError, match=r"needs its teacher \(GNN\+SE\)"):
        ColdBrewConfig(student_teacher="GNN+SE", models=("GNN", "ColdBrew"))
    with pytest.raises(ValueError, match="unknown student_teacher 'best'"):
        ColdBrewConfig(student_teacher="best")
