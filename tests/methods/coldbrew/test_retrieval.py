"""The Cold Brew student's opt-in retrieval head (graphlearn.methods.coldbrew.retrieval) and its export space."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from graphlearn import model_io
from graphlearn.data.splits import ColdStartSplit
from graphlearn.data.synthetic import dc_sbm
from graphlearn.methods.coldbrew import ColdBrewConfig, ColdBrewStudent, run_coldbrew
from graphlearn.methods.coldbrew.retrieval import _scores, _truth

FAST = dict(models=("GNN", "GNN+SE", "ColdBrew"), epochs=20, patience=10, k=8)


def latent_graph(n: int = 600, seed: int = 2) -> Data:
    """A DC-SBM graph's classes and masks, with edges between nearest nodes of a latent position (4 each) and
    features = 16 linear views of the position + 16 pure-noise columns: raw-feature cosine is blurred by the noise,
    which the graph's edges teach the head to ignore (DC-SBM features alone carry no node identity)."""
    g = dc_sbm(n, num_features=8, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(5, 8, generator=gen)[g.y] * 1.5 + torch.randn(n, 8, generator=gen)
    d = torch.cdist(z, z)
    d.fill_diagonal_(float("inf"))
    nb = d.topk(4, largest=False).indices
    g.edge_index = to_undirected(torch.stack([torch.arange(n).repeat_interleave(4), nb.reshape(-1)]))
    a = torch.randn(8, 16, generator=gen) / 8**0.5
    g.x = torch.cat([z @ a, 2.0 * torch.randn(n, 16, generator=gen)], 1)
    return g


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    split = ColdStartSplit(seed=0)(latent_graph())
    out = run_coldbrew(split, ColdBrewConfig(**FAST, retrieval_dim=24, retrieval_batch=256, retrieval_steps=80), seed=0)
    return split, out


def _val_queries(split):
    ei, val = split.edge_index, split.val_mask
    q, truth = [], []
    for v in val.nonzero().view(-1).tolist():
        nb = torch.unique(torch.cat([ei[1][ei[0] == v], ei[0][ei[1] == v]]))
        if nb.numel():
            q.append(v)
            truth.append(nb)
    return torch.tensor(q), truth


def test_head_beats_raw_features_on_validation(trained):
    split, out = trained
    student = out["trained"]["ColdBrew"]
    info = out["retrieval"]
    assert student.retrieval.trained and float(student.retrieval.mix) == pytest.approx(info["mix"])
    q, truth = _val_queries(split)
    known = split.train_mask | split.val_mask
    raw = F.normalize(split.x, dim=-1)
    owners, keys, counts = _truth(split.edge_index, q, split.num_nodes)
    assert torch.equal(owners, q)  # the vectorised ground truth is the loop's, node by node
    n = split.num_nodes
    assert q.numel() > 0 and all(torch.equal(keys[keys // n == v] % n, t) for v, t in zip(q.tolist(), truth))
    r_raw, p_raw = _scores(raw[q], raw, q, (keys, counts), split.y, known, 10)
    assert (r_raw, p_raw) == _scores(raw[q], raw, q, (keys, counts), split.y, known, 10, chunk=7)  # blocks
    # the head's validation score (its queries with the class block of an unseen node, as chosen)
    assert info["val_recall"] > r_raw + 10 and info["val_precision"] > p_raw
    assert info["history"][-1]["val_recall"] > info["history"][0]["val_recall"]  # training helped
    v = student.retrieval_vectors(split.x)
    assert v.shape == (split.num_nodes, 24)  # retrieval_dim: 19 learnt columns + 5 classes
    torch.testing.assert_close(v.norm(dim=-1), torch.ones(split.num_nodes))


def test_off_by_default_leaves_numbers_unchanged(trained):
    split, out = trained
    plain = run_coldbrew(split, ColdBrewConfig(**FAST), seed=0)
    assert "retrieval" not in plain
    for name in FAST["models"]:
        assert torch.equal(plain["models"][name]["pred"], out["models"][name]["pred"])
    a, b = plain["trained"]["ColdBrew"].state_dict(), out["trained"]["ColdBrew"].state_dict()
    assert set(b) - set(a) == {"retrieval.weight", "retrieval.mix", "retrieval.view", "retrieval.column_weight"}
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert "retrieval_dim" not in plain["trained"]["ColdBrew"].hparams


def test_save_load_round_trip(trained, tmp_path):
    split, out = trained
    student = out["trained"]["ColdBrew"]
    model_io.save(student, tmp_path / "s.pt")
    back = model_io.load(tmp_path / "s.pt")
    assert back.retrieval_dim == 24 and back.retrieval.trained
    torch.testing.assert_close(back.retrieval_vectors(split.x), student.retrieval_vectors(split.x))


def test_spaces_and_endpoint_agree(trained, tmp_path):
    from graphlearn.export.endpoint import ColdStartEndpoint
    from graphlearn.export.exporter import export_embeddings
    from graphlearn.export.spaces import query_vectors, student_vectors

    split, out = trained
    student = out["trained"]["ColdBrew"]
    new = split.x[:5] + 0.01
    idx = student_vectors(student, split.x, "retrieval")
    torch.testing.assert_close(idx, query_vectors(student, split.x, "retrieval"))
    model_io.save(student, tmp_path / "s.pt")
    folder = export_embeddings(tmp_path / "exp", "student", tmp_path / "s.pt", split.x, space="retrieval")
    ep = ColdStartEndpoint.load(folder)
    v, _ = ep._embed_and_classify(new)
    torch.testing.assert_close(v, query_vectors(student, new, "retrieval"))
    ans = ep.query(new.numpy(), k=3)
    assert ans.embedding.shape == (5, 24)
    # the default space still queries with MLP1
    torch.testing.assert_close(query_vectors(student, new), F.normalize(student.mlp1(new), dim=-1))


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="retrieval_dim.*got 3"):
        ColdBrewStudent(8, 4, 3, retrieval_dim=3)
    with pytest.raises(ValueError, match="retrieval_dim.*-1"):
        ColdBrewConfig(retrieval_dim=-1)
    student = ColdBrewStudent(8, 4, 3)
    with pytest.raises(ValueError, match="retrieval_dim > 0"):
        student.fit_retrieval(
            torch.zeros(4, 8),
            torch.zeros(4, dtype=torch.long),
            torch.zeros(2, 0, dtype=torch.long),
            train_mask=torch.ones(4, dtype=torch.bool),
            val_mask=torch.zeros(4, dtype=torch.bool),
        )


def test_bad_fit_setting_names_value(trained):
    split, out = trained
    student = out["trained"]["ColdBrew"]
    with pytest.raises(ValueError, match=r"tau .*-0\.5"):
        student.fit_retrieval(
            split.x, split.y, split.edge_index, train_mask=split.train_mask, val_mask=split.val_mask, tau=-0.5
        )


def test_untrained_head_raises():
    student = ColdBrewStudent(8, 4, 3, retrieval_dim=6)
    student.set_teacher(torch.randn(5, 4), torch.ones(5, dtype=torch.bool))
    with pytest.raises(ValueError, match="untrained"):
        student.retrieval_vectors(torch.zeros(2, 8))


def test_score_blocks_written_into_one_buffer_equal_fresh_products():
    """_feature_knn and _scores reuse one [chunk, nodes] buffer across blocks (no fresh pages per block): the same
    neighbours and the same recall / precision as scoring every block into a new tensor, bit for bit, with a last
    block shorter than the rest."""
    import math

    import torch.nn.functional as F

    from graphlearn.methods.coldbrew.retrieval import _feature_knn

    gen = torch.Generator().manual_seed(0)
    n = 700
    xn = F.normalize(torch.randn(n, 24, generator=gen), dim=-1)
    xn[5] = xn[9]  # a tie
    anchors = torch.arange(0, n, 3)
    want = []
    for a in anchors.split(64):
        s = F.linear(xn[a], xn)
        s[torch.arange(a.numel()), a] = -math.inf
        want.append(s.topk(4, dim=-1).indices)
    pairs = _feature_knn(xn, 4, anchors, chunk=64)
    assert torch.equal(pairs[1], torch.cat(want).reshape(-1))
    assert torch.equal(pairs[0], anchors.repeat_interleave(4))

    src = torch.randint(0, n, (3000,), generator=gen)
    dst = torch.randint(0, n, (3000,), generator=gen)
    queries, keys, counts = _truth(torch.stack([src, dst]), torch.arange(0, n, 2), n)
    y = torch.randint(0, 3, (n,), generator=gen)
    known = torch.rand(n, generator=gen) < 0.5
    s = xn[queries] @ xn.t()  # the reference: all queries' scores as one fresh product
    s[torch.arange(queries.numel()), queries] = -math.inf
    top = s.topk(10, dim=-1).indices
    pair = queries.unsqueeze(-1) * n + top
    hits = (keys[torch.searchsorted(keys, pair).clamp_max(keys.numel() - 1)] == pair).sum(-1).double()
    recall = 100.0 * float((hits / counts.double()).mean())
    agree = (y[top] == y[queries].unsqueeze(-1)) & known[top]
    precision = 100.0 * float((agree.float().sum(-1) / known[top].float().sum(-1).clamp_min(1)).mean())
    assert _scores(xn[queries], xn, queries, (keys, counts), y, known, 10, chunk=37) == (recall, precision)
