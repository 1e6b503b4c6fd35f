"""graphlearn.sparse: CSR features must give the same numbers as dense ones."""

import numpy as np
import pytest
import torch
from torch_geometric.nn import MLP as TorchGeometricMLP

from graphlearn import sparse
from graphlearn.models.mlp import PyGMLP as MLP


@pytest.fixture
def bag_of_words():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(60, 40, generator=g) < 0.05).float() * torch.rand(60, 40, generator=g)
    x[3] = 0.0  # an all-zero row
    return x


def test_model_input_converts_only_large_sparse_float(bag_of_words):
    assert sparse.model_input(bag_of_words).layout == torch.strided  # 40 columns < MIN_COLUMNS
    csr = sparse.model_input(bag_of_words, min_columns=0)
    assert csr.layout == torch.sparse_csr
    assert torch.equal(csr.to_dense(), bag_of_words)
    dense = torch.ones(60, 40)
    assert sparse.model_input(dense, min_columns=0) is dense  # density 1 > MAX_DENSITY
    ints = (bag_of_words > 0).long()
    assert sparse.model_input(ints, min_columns=0) is ints


@pytest.mark.parametrize("as_mask", [True, False])
def test_take_rows_matches_dense_indexing(bag_of_words, as_mask):
    mask = torch.arange(60) % 3 == 0
    index = mask if as_mask else mask.nonzero().view(-1)
    csr = sparse.model_input(bag_of_words, min_columns=0)
    rows = sparse.take_rows(csr, index)
    assert rows.layout == torch.sparse_csr
    assert torch.equal(rows.to_dense(), bag_of_words[index])
    assert torch.equal(sparse.take_rows(bag_of_words, index), bag_of_words[index])


def test_row_norms_and_normalize_match_dense(bag_of_words):
    csr = sparse.model_input(bag_of_words, min_columns=0)
    assert torch.allclose(sparse.row_sq_norms(csr), bag_of_words.pow(2).sum(-1))
    normed = sparse.normalize_rows(csr)
    assert normed.layout == torch.sparse_csr
    assert torch.allclose(normed.to_dense(), torch.nn.functional.normalize(bag_of_words, dim=-1))
    assert torch.equal(normed.to_dense()[3], torch.zeros(40))  # the all-zero row stays zero


def test_dropout_drops_and_rescales_stored_values(bag_of_words):
    csr = sparse.model_input(bag_of_words, min_columns=0)
    assert sparse.dropout(csr, 0.5, training=False) is csr
    torch.manual_seed(0)
    out = sparse.dropout(csr, 0.5, training=True).to_dense()
    kept = out != 0
    assert not torch.any(kept & (bag_of_words == 0))  # zeros stay zeros
    assert torch.allclose(out[kept], bag_of_words[kept] * 2)  # survivors scaled by 1/(1-p)
    assert 0 < int(kept.sum()) < int((bag_of_words != 0).sum())


@pytest.mark.parametrize("p", [0.1, 0.5, 0.6, 0.9])
def test_dropout_distribution_keep_rate_expectation_zeros_and_gradient(p):
    torch.manual_seed(0)
    x = torch.rand(1000, 200) + 0.5
    x[::3] = 0.0  # zero rows stay zero
    x.requires_grad_(True)
    out = sparse.dropout(x, p, training=True)
    n = x.numel()
    kept_rate = float((out[x != 0] != 0).float().mean())
    sd = (p * (1 - p) / float((x != 0).sum())) ** 0.5
    assert abs(kept_rate - (1 - p)) < 5 * sd  # keep rate 1 - p within 5 standard deviations
    assert torch.all(out[x.detach() == 0] == 0)
    scale = out[out != 0] / x.detach()[out != 0]
    full = 1 << sparse.DROPOUT_BITS
    want_scale = full / (full - round(p * full))
    assert torch.allclose(scale, torch.full_like(scale, want_scale))
    assert abs(want_scale - 1 / (1 - p)) < 1e-5  # p is rounded to a multiple of 2^-24 only
    # expectation preserved: the mean of many draws of a constant tensor is the constant
    ones = torch.ones(n)
    assert abs(float(sparse.dropout(ones, p, True).mean()) - 1.0) < 5 * (p / (1 - p) / n) ** 0.5
    # gradient is the mask times the scale
    g = torch.randn_like(out)
    out.backward(g)
    mask = (out.detach() != 0).float() * want_scale
    nz = x.detach() != 0
    assert torch.equal(x.grad[nz], (g * mask)[nz])


def test_dropout_identity_in_eval_and_edge_cases():
    x = torch.randn(50, 30)
    assert sparse.dropout(x, 0.5, training=False) is x
    assert sparse.dropout(x, 0.0, training=True) is x
    assert torch.equal(sparse.dropout(x, 1.0, training=True), torch.zeros_like(x))
    torch.manual_seed(1)
    a = sparse.dropout(x, 0.5, training=True)
    torch.manual_seed(1)
    assert torch.equal(a, sparse.dropout(x, 0.5, training=True))  # same seed, same draw
    for dtype in (torch.float64, torch.bfloat16):
        out = sparse.dropout(x.to(dtype), 0.5, training=True)
        assert out.dtype == dtype and set(out[out != 0].div(x.to(dtype)[out != 0]).float().round().tolist()) <= {2.0}
    with pytest.raises(ValueError, match="dropout probability"):
        sparse.dropout_mask(x, 1.5)


def test_every_dropout_site_uses_the_library_dropout(monkeypatch):
    """F.dropout (and nn.Dropout, which calls it) is never reached in training by the models and methods."""
    import torch.nn.functional as F

    from graphlearn.methods.coldbrew.glnn import MLPClassifier
    from graphlearn.methods.coldbrew.student import ColdBrewStudent
    from graphlearn.methods.coldbrew.teacher import ColdBrewTeacher
    from graphlearn.methods.giant.encoder import MLPEncoder
    from graphlearn.models import build_model

    def refuse(*args, **kwargs):
        raise AssertionError("F.dropout called")

    monkeypatch.setattr(F, "dropout", refuse)
    x = torch.rand(30, 12)
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    for name in ("mlp", "gcn", "sage", "sign"):
        model = build_model(name, 12, 8, 3, input_dropout=0.5).train()
        xin = model.preprocess(x, ei) if hasattr(model, "preprocess") else x
        model(xin, ei).sum().backward()
        model.embed(xin, ei)
    MLPClassifier(12, 8, 3).train()(x).sum().backward()
    MLPEncoder(12, 8, 4, num_layers=2, dropout=0.5, input_dropout=0.5).train()(x).sum().backward()
    teacher = ColdBrewTeacher(12, 8, 3, num_nodes=30).train()
    teacher(x, ei).sum().backward()
    student = ColdBrewStudent(12, teacher.embed(x, ei).size(1), 3, hidden_channels=8).train()
    student.mlp1(x).sum().backward()


def test_mlp_forward_and_weight_gradient_match_dense(bag_of_words):
    torch.manual_seed(0)
    mlp = MLP([40, 16, 3], dropout=0.0, norm=None)
    csr = sparse.model_input(bag_of_words, min_columns=0)
    outs, grads = [], []
    for x in (bag_of_words, csr):
        mlp.zero_grad()
        out = mlp(x)
        out.pow(2).sum().backward()
        outs.append(out.detach())
        grads.append(mlp.lins[0].weight.grad.clone())
    assert torch.allclose(outs[0], outs[1], atol=1e-5)
    assert torch.allclose(grads[0], grads[1], atol=1e-4)


def test_coldbrew_teacher_and_glnn_same_with_sparse_path(monkeypatch, bag_of_words):
    """Eval-mode outputs of the GCN teacher and the trained-from-the-same-init
    MLP do not depend on whether the sparse path is taken."""
    from graphlearn.methods.coldbrew.teacher import ColdBrewTeacher

    ei = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 0, 3, 2, 5, 4]])
    torch.manual_seed(0)
    teacher = ColdBrewTeacher(40, 8, 3, 60, se_layers=(0,)).eval()
    dense_out = teacher(bag_of_words, ei)
    monkeypatch.setattr(sparse.model_input, "__defaults__", (sparse.MAX_DENSITY, 0, 0))
    assert sparse.model_input(bag_of_words).layout == torch.sparse_csr
    assert torch.allclose(teacher(bag_of_words, ei), dense_out, atol=1e-5)


@pytest.mark.parametrize("name", ["mlp", "gcn", "sage", "gat"])
def test_baseline_models_same_output_on_csr_features(name, bag_of_words):
    from graphlearn.models import build_model

    ei = torch.tensor([[0, 1, 2, 3, 4, 5, 7], [1, 0, 3, 2, 5, 4, 0]])
    torch.manual_seed(0)
    model = build_model(name, 40, 16, 3).eval()
    assert model.supports_sparse_input
    csr = sparse.model_input(bag_of_words, min_columns=0)
    assert torch.allclose(model(bag_of_words, ei), model(csr, ei), atol=1e-5)
    model.train()  # input dropout on CSR keeps zeros zero and runs
    assert model(csr, ei).shape == (60, 3)


def test_sage_transform_first_rejects_other_aggregations():
    from torch_geometric.nn import SAGEConv, SimpleConv

    from graphlearn.models.gnn import sage_conv_transform_first

    with pytest.raises(ValueError, match="mean-aggregation SAGEConv"):
        sage_conv_transform_first(
            SAGEConv(4, 2, aggr="max"), torch.ones(3, 4), torch.tensor([[0], [1]]), SimpleConv(aggr="mean")
        )


def test_coldbrew_sage_teacher_same_with_sparse_path(monkeypatch, bag_of_words):
    from graphlearn.methods.coldbrew.teacher import ColdBrewTeacher

    ei = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 0, 3, 2, 5, 4]])
    torch.manual_seed(0)
    teacher = ColdBrewTeacher(40, 8, 3, 60, conv="sage", se_layers=(0,)).eval()
    dense_out = teacher(bag_of_words, ei)
    monkeypatch.setattr(sparse.model_input, "__defaults__", (sparse.MAX_DENSITY, 0, 0))
    assert sparse.model_input(bag_of_words).layout == torch.sparse_csr
    assert torch.allclose(teacher(bag_of_words, ei), dense_out, atol=1e-5)


def test_sage_transform_first_on_dense_narrowing_layer_matches_sageconv():
    from graphlearn.models import build_model
    from graphlearn.models.gnn import transform_first_pays

    torch.manual_seed(0)
    x = torch.randn(30, 20)
    ei = torch.tensor([[0, 1, 2, 3, 9], [1, 0, 3, 2, 0]])
    model = build_model("sage", 20, 8, 3).eval()
    assert transform_first_pays(model.convs[0], x)  # 20 -> 8 narrows
    reference = model.convs[1](model.convs[0](x, ei).relu(), ei)  # PyG's SAGEConv as is
    assert torch.allclose(model(x, ei), reference, atol=1e-5)
    wide = build_model("sage", 4, 16, 3)
    assert not transform_first_pays(wide.convs[0], torch.randn(30, 4))  # widening: gather first


@pytest.mark.parametrize("norm", ["gcn", "mean", "sum"])
def test_propagation_matrix_matches_pyg_message_passing(norm):
    from torch_geometric.nn import SimpleConv  # noqa: PLC0415
    from torch_geometric.nn.conv.gcn_conv import gcn_norm  # noqa: PLC0415

    g = torch.Generator().manual_seed(1)
    edge_index = torch.randint(0, 12, (2, 40), generator=g)  # duplicates and self-loops included
    edge_index = edge_index[:, edge_index[1] != 11]  # node 11: no in-edge
    h = torch.randn(12, 5, generator=g, requires_grad=True)
    P = sparse.propagation_matrix(edge_index, 12, norm)
    if norm == "gcn":
        ei, w = gcn_norm(edge_index, None, 12, add_self_loops=True)
        want = SimpleConv(aggr="sum")(h, ei, w)
    else:
        want = SimpleConv(aggr=norm)(h, edge_index)
    got = P @ h
    assert torch.allclose(got, want, atol=1e-6)
    if norm != "gcn":
        assert torch.equal(got[11], torch.zeros(5))
    got.sum().backward()  # differentiable in h (used in training)
    assert h.grad is not None and h.grad.shape == h.shape


def test_propagation_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown norm 'max'"):
        sparse.propagation_matrix(torch.zeros(2, 0, dtype=torch.long), 3, "max")
    with pytest.raises(ValueError, match=r"outside \[0, 2\]"):
        sparse.propagation_matrix(torch.tensor([[0], [3]]), 3)
    with pytest.raises(ValueError, match="shape"):
        sparse.propagation_matrix(torch.tensor([0, 1]), 3)


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_mlp_forward_in_blocks_equals_mlp_on_concatenation(bag_of_words, layers):
    dense = torch.randn(60, 7, generator=torch.Generator().manual_seed(2))
    csr = sparse.model_input(bag_of_words, min_columns=0)
    channels = [47] + [16] * (layers - 1) + [3]
    mlp = MLP(channels, dropout=0.5, norm=None)
    whole = torch.cat([bag_of_words, dense], dim=-1)
    mlp.eval()
    assert torch.allclose(sparse.mlp_forward(mlp, [csr, dense]), mlp(whole), atol=1e-5)
    mlp.train()  # same dropout masks from the same generator state
    torch.manual_seed(3)
    want = mlp(whole)
    want.sum().backward()
    grad_want = mlp.lins[0].weight.grad.clone()
    mlp.zero_grad()
    torch.manual_seed(3)
    got = sparse.mlp_forward(mlp, [csr, dense])
    got.sum().backward()
    assert torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(mlp.lins[0].weight.grad, grad_want, atol=1e-5)
    with pytest.raises(ValueError, match="46 columns in all"):
        sparse.mlp_forward(mlp, [csr, dense[:, :6]])


def test_spmm_equals_the_autograd_product_bit_for_bit_and_caches_the_transpose():
    from graphlearn import sparse

    torch.manual_seed(0)
    n = 30
    ei = torch.randint(0, n, (2, 120))
    ei = torch.cat([ei, ei.flip(0)], 1)
    ei = ei[:, ei[0] != ei[1]]
    for norm in ("gcn", "mean"):
        P = sparse.propagation_matrix(ei, n, norm)
        h0, g = torch.randn(n, 5), torch.randn(n, 5)
        a = h0.clone().requires_grad_()
        (P @ a).backward(g)
        b = h0.clone().requires_grad_()
        out = sparse.spmm(P, b)
        out.backward(g)
        assert torch.equal(out.detach(), (P @ h0)) and torch.equal(a.grad, b.grad)
        assert sparse.transpose_csr(P) is sparse.transpose_csr(P)  # built once per operator
        with torch.no_grad():
            assert torch.equal(sparse.spmm(P, h0), P @ h0)


def test_model_input_decides_by_density_and_width_not_size():
    g = torch.Generator().manual_seed(1)
    one_node = (torch.rand(1, 1433, generator=g) < 0.013).float()  # one new Cora-like node: 1433 elements
    assert sparse.model_input(one_node).layout == torch.sparse_csr
    narrow = (torch.rand(5000, 32, generator=g) < 0.01).float()  # sparse but narrow: stays dense
    assert sparse.model_input(narrow).layout == torch.strided
    dense_wide = torch.rand(3, 1433, generator=g)
    assert sparse.model_input(dense_wide) is dense_wide
    assert sparse.model_input(torch.zeros(0, 1433)).layout == torch.strided


def test_linear_with_cached_transpose_is_bit_identical_and_follows_weight_changes():
    import torch.nn.functional as F

    from graphlearn import sparse as sp

    g = torch.Generator().manual_seed(0)
    x = torch.rand(20, 300, generator=g)
    x[x < 0.97] = 0
    csr = x.to_sparse_csr()
    w, b = torch.randn(16, 340, generator=g), torch.randn(16, generator=g)
    with torch.no_grad():
        assert torch.equal(sp.linear(csr, w, b, columns=slice(0, 300)), F.linear(csr, w[:, :300], b))
        assert torch.equal(sp.linear(csr, w[:, :300].contiguous(), b), F.linear(csr, w[:, :300], b))
        w.mul_(2)  # an in-place update (optimiser step, load_state_dict) invalidates the cached transpose
        assert torch.equal(sp.linear(csr, w, None, columns=slice(0, 300)), F.linear(csr, w[:, :300]))
    # with autograd on, the plain F.linear path (training is unchanged)
    wg = w.clone().requires_grad_()
    out = sp.linear(csr, wg, columns=slice(0, 300))
    out.sum().backward()
    assert wg.grad is not None


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("norm", [None, "batch_norm", "layer_norm"])
def test_graphlearn_mlp_equals_pyg_mlp_in_eval_and_without_dropout(layers, norm):
    torch.manual_seed(0)
    channels = [20] + [16] * (layers - 1) + [3]
    ours = MLP(channels, dropout=0.5, norm=norm)
    theirs = TorchGeometricMLP(channels, dropout=0.5, norm=norm)
    theirs.load_state_dict(ours.state_dict())
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    x = torch.randn(50, 20)
    ours.eval(), theirs.eval()
    assert torch.equal(ours(x), theirs(x))
    a, b = ours(x, return_emb=True), theirs(x, return_emb=True)
    assert torch.equal(a[0], b[0]) and ((a[1] is None and b[1] is None) or torch.equal(a[1], b[1]))
    for m in (ours, theirs):
        m.train()
        for i in range(len(m.dropout)):
            m.dropout[i] = 0.0
    assert torch.equal(ours(x), theirs(x))  # train mode (batch statistics), no dropout: same arithmetic


@pytest.mark.parametrize("threads", [1, 2])
def test_dropout_linear_is_the_same_draw_as_dropout_then_linear(threads, monkeypatch):
    monkeypatch.setattr(sparse, "DROPOUT_LINEAR_BLOCK", 1000)  # many blocks, some of them ragged
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.randn(1037, 23)
        w = torch.randn(5, 23, requires_grad=True)
        b = torch.randn(5, requires_grad=True)
        torch.manual_seed(4)
        want = torch.nn.functional.linear(sparse.dropout(x, 0.6, True), w, b)
        after_want = torch.rand(3)
        want.square().sum().backward()
        gw, gb = w.grad.clone(), b.grad.clone()
        w.grad = b.grad = None
        torch.manual_seed(4)
        got = sparse.dropout_linear(x, 0.6, w, b, True)
        assert torch.equal(torch.rand(3), after_want)  # the generator is left where the whole draw leaves it
        got.square().sum().backward()
        assert torch.allclose(got, want, atol=1e-5)
        assert torch.allclose(w.grad, gw, atol=1e-4) and torch.allclose(b.grad, gb, atol=1e-4)
        assert torch.equal(sparse.dropout_linear(x, 0.6, w, b, False), torch.nn.functional.linear(x, w, b))
    finally:
        torch.set_num_threads(prev)


def test_sign_mlp_input_dropout_fused_equals_unfused(monkeypatch):
    from graphlearn.models import build_model
    from graphlearn.models import mlp as mlp_module

    monkeypatch.setattr(sparse, "DROPOUT_LINEAR_BLOCK", 5000)
    torch.manual_seed(0)
    model = build_model("mlp", 64, 16, 3, input_dropout=0.6).train()
    x = torch.randn(2000, 64)
    torch.manual_seed(1)
    got = model(x)
    torch.manual_seed(1)
    want = model.mlp(mlp_module.feature_dropout(x, 0.6, True))
    assert torch.allclose(got, want, atol=1e-5)


def test_row_sum_normalize_is_pyg_normalize_features_for_dense_and_csr():
    from torch_geometric.data import Data
    from torch_geometric.transforms import NormalizeFeatures

    g = torch.Generator().manual_seed(0)
    bow = torch.rand(50, 300, generator=g) * (torch.rand(50, 300, generator=g) < 0.05)
    bow[7] = 0  # an empty row is divided by 1
    positive = torch.rand(20, 5, generator=g) + 0.5  # PyG shifts by the minimum first
    for x in (bow, positive):
        ref = NormalizeFeatures()(Data(x=x.clone())).x
        assert torch.equal(sparse.row_sum_normalize(x.clone()), ref)  # dense: PyG's arithmetic exactly
        csr = sparse.row_sum_normalize(x.to_sparse_csr())
        assert csr.layout == torch.sparse_csr
        assert torch.allclose(csr.to_dense(), ref, atol=1e-7)  # CSR: the same up to summation order
    assert torch.equal(sparse.row_sum_normalize(bow.to_sparse_csr()).col_indices(), bow.to_sparse_csr().col_indices())
    assert sparse.min_value(bow.to_sparse_csr()) == 0.0 and sparse.min_value(positive.to_sparse_csr()) > 0.5
    with pytest.raises(ValueError, match=r"negative entries \(min -1\)"):
        sparse.row_sum_normalize(torch.tensor([[0.0, -1.0], [2.0, 0.0]]).to_sparse_csr())


@pytest.mark.parametrize("norm", ["gcn", "mean", "sum"])
def test_propagation_rows_are_the_operator_s_rows(norm):
    from graphlearn.data import dc_sbm

    graph = dc_sbm(120, num_features=4, seed=3)
    whole = sparse.propagation_matrix(graph.edge_index, 120, norm).to_dense()
    for start, end in [(0, 120), (0, 37), (37, 120), (50, 50)]:
        block = sparse.propagation_rows(graph.edge_index, 120, start, end, norm)
        assert block.layout == torch.sparse_csr and tuple(block.shape) == (end - start, 120)
        assert torch.equal(block.to_dense(), whole[start:end])
    with pytest.raises(ValueError, match=r"row block \[100, 130\) is not inside \[0, 120\]"):
        sparse.propagation_rows(graph.edge_index, 120, 100, 130)


def test_propagation_rows_with_self_loops_and_duplicates_in_the_graph():
    # an existing self-loop (gcn_norm replaces it by one of weight 1), a duplicated edge (counted twice), a node
    # without edges (its own loop only, or a zero row)
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3, 3], [1, 0, 0, 2, 3, 2, 2]])
    for kw in [{}, {"add_self_loops": False}]:
        whole = sparse.propagation_matrix(edge_index, 5, "gcn", **kw).to_dense()
        for start, end in [(0, 5), (0, 2), (2, 5)]:
            block = sparse.propagation_rows(edge_index, 5, start, end, "gcn", **kw)
            assert torch.equal(block.to_dense(), whole[start:end]), (kw, start, end)
    for norm in ("mean", "sum"):
        whole = sparse.propagation_matrix(edge_index, 5, norm).to_dense()
        assert torch.equal(sparse.propagation_rows(edge_index, 5, 1, 4, norm).to_dense(), whole[1:4])


def test_all_finite_finds_every_non_finite_value_and_survives_an_overflowing_sum(bag_of_words):
    assert sparse.all_finite(bag_of_words) and sparse.all_finite(bag_of_words.to_sparse_csr())
    for bad in (float("nan"), float("inf"), -float("inf")):
        x = bag_of_words.clone()
        x[7, 11] = bad
        assert not sparse.all_finite(x)
        assert not sparse.all_finite(x.to_sparse_csr())
    both = bag_of_words.clone()
    both[0, 0], both[1, 1] = float("inf"), -float("inf")  # the sum is NaN, not +-inf
    assert not sparse.all_finite(both)
    huge = torch.full((4, 3), 3.0e38)  # every value finite, the sum overflows to inf
    assert not torch.isfinite(huge.sum()) and sparse.all_finite(huge)
    assert sparse.all_finite(torch.ones(3, 2, dtype=torch.long))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.6, 0.95])
def test_dropout_stream_draws_the_masks_of_numpys_float_fill(p):
    """DropoutStream reads the SFC64 stream 64 bits at a time and compares integers; the masks are those of the
    float fill it replaced (``Generator.random(dtype=float32) >= cut``), bit for bit, block after block, with odd
    block sizes (a 64-bit draw's upper half carried into the next block) and an empty block."""
    from graphlearn.sparse import DropoutStream

    for s in range(3):
        torch.manual_seed(s)
        seed = int(torch.randint(0, 2**63 - 1, (), dtype=torch.int64))
        reference = np.random.Generator(np.random.SFC64(seed))
        torch.manual_seed(s)
        stream = DropoutStream(p)
        for n in (1, 7, 0, 1000, 3, 64 * 100 + 1, 2, 5):
            u = np.empty(n, dtype=np.float32)
            reference.random(out=u, dtype=np.float32)
            want = torch.from_numpy(u).ge_(stream.cut).mul_(stream.scale)
            got = stream.mask(torch.empty(n))
            assert torch.equal(got, want), (p, s, n)
            assert got.dtype == torch.float32


def test_slice_rows_of_csr_reads_the_row_range():
    g = torch.Generator().manual_seed(0)
    dense = torch.randn(12, 7, generator=g) * (torch.rand(12, 7, generator=g) < 0.3)
    dense[4] = 0.0  # an empty row inside the range
    csr = dense.to_sparse_csr()
    for start, stop in ((0, 12), (3, 9), (4, 5), (6, 6), (10, 40)):
        block = sparse.slice_rows(csr, start, stop)
        assert block.layout == torch.sparse_csr
        assert torch.equal(block.to_dense(), dense[start:stop])
    assert torch.equal(sparse.slice_rows(dense, 3, 9), dense[3:9])
