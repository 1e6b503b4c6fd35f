"""Mini-batch training of the feature-only models (issue 15: large graphs): ``training.minibatches`` and its use by
GLNN / the MLP baseline, the student's MLP1 / MLP2 / feature head and ``run_coldbrew`` (``batch_size``,
``full_batch_rows``). Below ``full_batch_rows`` nothing changes (full batch, bit for bit)."""

from __future__ import annotations

import pytest
import torch

from graphlearn.data import dc_sbm
from graphlearn.data.splits import ColdStartSplit
from graphlearn.methods.coldbrew import ColdBrewStudent
from graphlearn.methods.coldbrew.glnn import MLPClassifier, train_glnn
from graphlearn.methods.coldbrew.run import ColdBrewConfig, run_coldbrew
from graphlearn.training import MIN_PATIENCE_PASSES, fit, minibatch_patience, minibatches


def _graph(n=400):
    return ColdStartSplit(seed=0)(dc_sbm(n, num_features=16, seed=3))


def test_minibatches_cut_every_set_into_the_same_steps():
    assert minibatches([100, 50], 0) is None  # batch_size 0: full batch
    assert minibatches([100, 50], 16, full_batch_rows=100) is None  # no set above the threshold
    assert minibatches([100, 50], 200, full_batch_rows=0) is None  # one step would hold everything
    epoch = minibatches([100, 50], 16, full_batch_rows=0)
    torch.manual_seed(0)
    steps = epoch()
    assert len(steps) == 7  # ceil(100 / 16)
    for i, size in enumerate((100, 50)):
        seen = torch.cat([s[i] for s in steps])
        assert sorted(seen.tolist()) == list(range(size))  # every row exactly once
        assert max(s[i].numel() for s in steps) - min(s[i].numel() for s in steps) <= 1
    torch.manual_seed(0)
    again = epoch()
    assert all(torch.equal(a, b) for sa, sb in zip(steps, again) for a, b in zip(sa, sb))  # seeded: repeats
    assert not all(torch.equal(a, b) for sa, sb in zip(steps, epoch()) for a, b in zip(sa, sb))  # new epoch, new order


@pytest.mark.parametrize(
    "kwargs, message",
    [({"batch_size": -1}, "batch_size must be an integer >= 0"), ({"batch_size": 8, "full_batch_rows": -3},
     "full_batch_rows must be an integer >= 0"), ({"batch_size": 2.5}, "got 2.5")],
)  # fmt: skip
def test_minibatches_refuse_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        minibatches([10], **kwargs)


def test_config_refuses_a_negative_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        ColdBrewConfig.from_dict({"batch_size": -1})


def _teacher(data):
    return torch.randn(data.num_nodes, data.num_classes, generator=torch.Generator().manual_seed(0))


def test_glnn_takes_one_step_per_batch_and_learns(monkeypatch):
    data = _graph()
    teacher = _teacher(data)
    kd = data.degree > 0
    rows = int((data.train_mask | kd).sum())
    sizes: list[tuple[int, bool]] = []
    forward = MLPClassifier.forward

    def counting(self, x, edge_index=None):
        sizes.append((x.size(0), self.training))
        return forward(self, x, edge_index)

    monkeypatch.setattr(MLPClassifier, "forward", counting)
    torch.manual_seed(0)
    model, hist = train_glnn(data.x, data.y, teacher, train_mask=data.train_mask, val_mask=data.val_mask, kd_mask=kd,
                             lam=0.5, epochs=30, patience=None, batch_size=64, full_batch_rows=0)  # fmt: skip
    steps = -(-rows // 64)
    train_forwards = [s for s, training in sizes if training]
    assert len(train_forwards) == 30 * steps and sum(train_forwards[:steps]) == rows  # a pass per epoch
    assert all(not training for s, training in sizes if s == int(data.val_mask.sum()))
    assert 0.0 < hist.curve[-1]["train_acc"] <= 100.0
    # full batch below the threshold: the same call with the default full_batch_rows is one step per epoch
    sizes.clear()
    torch.manual_seed(0)
    full, _ = train_glnn(data.x, data.y, teacher, train_mask=data.train_mask, val_mask=data.val_mask, kd_mask=kd,
                         lam=0.5, epochs=30, patience=None, batch_size=64)  # fmt: skip
    assert [s for s, training in sizes if training] == [rows] * 30

    def test_acc(m):
        with torch.no_grad():
            return float((m(data.x)[data.test_mask].argmax(-1) == data.y[data.test_mask]).float().mean())

    # the same number of passes learns at least as well in 7 steps each as in one full-batch step each
    assert test_acc(model) >= test_acc(full) - 0.05 and test_acc(model) > 2.0 / data.num_classes


def test_glnn_minibatch_distils_the_teacher():
    """With the label loss off (lam 0) the mini-batch GLNN follows the teacher's soft labels."""
    data = _graph()
    teacher = torch.nn.functional.one_hot(data.y, data.num_classes).float() * 5.0
    torch.manual_seed(0)
    model, _ = train_glnn(data.x, data.y, teacher, train_mask=data.train_mask, val_mask=data.val_mask,
                          kd_mask=torch.ones_like(data.train_mask), lam=0.0, epochs=40, patience=None, batch_size=50,
                          full_batch_rows=0)  # fmt: skip
    with torch.no_grad():
        agree = float((model(data.x).argmax(-1) == teacher.argmax(-1)).float().mean())
    assert agree > 0.8


def test_student_trains_each_model_in_minibatches(monkeypatch):
    data = _graph()
    emb = torch.randn(data.num_nodes, 8, generator=torch.Generator().manual_seed(1))
    teacher = _teacher(data)
    student = ColdBrewStudent(data.num_features, 8, data.num_classes, hidden_channels=16, k=5, feature_head=0.5)
    seen: list[int] = []
    mlp2 = ColdBrewStudent._mlp2

    def counting(self, parts):
        if self.mlp2.training:
            seen.append(parts[0].size(0))
        return mlp2(self, parts)

    monkeypatch.setattr(ColdBrewStudent, "_mlp2", counting)
    torch.manual_seed(0)
    cand = data.degree > 0
    kd = cand & ~data.val_mask
    history = student.fit(data.x, data.y, emb, train_mask=data.train_mask, val_mask=data.val_mask,
                          candidate_mask=cand, teacher_logits=teacher, kd_weight=1.0, epochs=5, patience=None,
                          batch_size=40, full_batch_rows=0)  # fmt: skip
    n_train, n_kd = int(data.train_mask.sum()), int(kd.sum())
    steps = -(-max(n_train, n_kd) // 40)
    # every step forwards its share of the labelled rows, then of the distilled rows
    assert len(seen) == 5 * steps * 2
    assert sum(seen[0 : 2 * steps : 2]) == n_train and sum(seen[1 : 2 * steps : 2]) == n_kd
    assert set(history) >= {"mlp1", "mlp2", "mlp3"} and history["mlp3"].epochs_run == 5
    pred = student.predict(data.x, self_index=torch.arange(data.num_nodes))
    assert float((pred[data.test_mask] == data.y[data.test_mask]).float().mean()) > 0.5


def test_mlp1_minibatch_reads_every_regressed_row_once_per_epoch():
    data = _graph()
    emb = torch.randn(data.num_nodes, 8, generator=torch.Generator().manual_seed(1))
    cand = data.degree > 0
    student = ColdBrewStudent(data.num_features, 8, data.num_classes, hidden_channels=16, k=5)
    rows: list[int] = []
    hook = student.mlp1.register_forward_hook(lambda m, i, o: rows.append(o.size(0)) if m.training else None)
    torch.manual_seed(0)
    student.fit(data.x, data.y, emb, train_mask=data.train_mask, val_mask=data.val_mask, candidate_mask=cand,
                epochs=3, patience=None, batch_size=32, full_batch_rows=0)  # fmt: skip
    hook.remove()
    regressed = int((cand & ~data.val_mask).sum())
    steps = -(-regressed // 32)
    assert len(rows) == 3 * steps and sum(rows[:steps]) == regressed


def test_run_coldbrew_minibatch_threshold():
    """``run_coldbrew`` trains mini-batch above ``full_batch_rows`` (a changed result) and full batch below it (the
    same result, bit for bit, as with mini-batches switched off)."""
    data = _graph(300)
    base = {"models": ("GNN", "GNN+SE", "MLP", "GLNN", "ColdBrew"), "epochs": 20, "patience": None}
    off = run_coldbrew(data, ColdBrewConfig.from_dict({**base, "batch_size": 0}), seed=1)
    below = run_coldbrew(data, ColdBrewConfig.from_dict({**base, "batch_size": 32}), seed=1)
    above = run_coldbrew(data, ColdBrewConfig.from_dict({**base, "batch_size": 32, "full_batch_rows": 0}), seed=1)
    for name in ("MLP", "GLNN", "ColdBrew"):
        assert torch.equal(off["models"][name]["logits"], below["models"][name]["logits"]), name
        assert not torch.equal(off["models"][name]["logits"], above["models"][name]["logits"]), name
    # the teachers are graph models, full batch either way
    assert torch.equal(off["models"]["GNN"]["logits"], above["models"]["GNN"]["logits"])


def test_minibatch_patience_counts_steps_with_a_floor():
    assert minibatch_patience(50, 20) == MIN_PATIENCE_PASSES == 10  # ceil(50 / 20) = 3 passes: the floor
    assert minibatch_patience(50, 2) == 25
    assert minibatch_patience(None, 7) is None


def test_fit_stops_after_the_patience_in_passes():
    model = torch.nn.Linear(3, 1)
    x = torch.randn(100, 3, generator=torch.Generator().manual_seed(0))
    batches = minibatches([100], 10, full_batch_rows=0)  # 10 steps per pass
    calls = []

    def loss_fn(batch):
        calls.append(batch[0].numel())
        return model(x[batch[0]]).pow(2).mean()

    # the score never improves after the first epoch: patience 200 steps = 20 passes
    result = fit(model, loss_fn, lambda: {"score": 0.0}, epochs=100, lr=0.01, patience=200, batches=batches)
    assert result.best_epoch == 1 and result.epochs_run == 21 and len(calls) == 21 * 10
    assert sum(calls[:10]) == 100
    with pytest.raises(ValueError, match="does not combine with data-parallel"):
        fit(model, loss_fn, lambda: {"score": 0.0}, epochs=1, lr=0.01, batches=batches, parallel=object())


def test_row_blocks_equal_the_whole_map_and_stay_out_of_autograd():
    from torch_geometric.nn import MLP

    from graphlearn import sparse

    g = torch.Generator().manual_seed(0)
    dense = torch.randn(203, 12, generator=g)
    bow = (torch.rand(203, 30, generator=g) < 0.1).float()
    torch.manual_seed(0)
    mlp = MLP([42, 16, 7], norm=None).eval()
    calls: list[int] = []

    def fn(parts):
        calls.append(parts[0].size(0))
        return sparse.mlp_forward(mlp, parts)

    with torch.no_grad():
        for layout in (bow, bow.to_sparse_csr()):  # CSR rows are sliced as CSR
            whole = fn([dense, layout])
            calls.clear()
            blocked = sparse.row_blocks(fn, [dense, layout], block_rows=50)
            assert calls == [40, 41, 40, 41, 41]  # 5 blocks of rows of equal size (within one row)
            assert torch.equal(blocked, whole)
        calls.clear()
        assert torch.equal(sparse.row_blocks(fn, [dense, bow], block_rows=203), whole) and calls == [203]
    calls.clear()
    out = sparse.row_blocks(fn, [dense, bow], block_rows=50)  # autograd on: one call, the graph kept
    assert calls == [203] and out.requires_grad


def test_student_inference_by_blocks_of_rows_is_bit_identical(monkeypatch):
    """Above ``sparse.INFERENCE_BLOCK_ROWS`` rows the student's MLP1 and MLP2 run block by block outside autograd
    (a 1M-node graph's [N, 256] intermediates): the fit and the logits are those of the whole-batch pass."""
    from graphlearn import sparse

    data = _graph(600)
    cand = data.degree > 0
    emb = torch.randn(data.num_nodes, 24, generator=torch.Generator().manual_seed(0))

    def fitted(block):
        monkeypatch.setattr(sparse, "INFERENCE_BLOCK_ROWS", block)
        torch.manual_seed(0)
        s = ColdBrewStudent(16, 24, data.num_classes, hidden_channels=48, k=5, query="features", metric="cos")
        s.fit(data.x, data.y, emb, train_mask=data.train_mask, val_mask=data.val_mask, candidate_mask=cand,
              epochs=15, patience=None)  # fmt: skip
        return s, s.logits(data.x, self_index=torch.arange(data.num_nodes)), s.embed(data.x[:90])

    s_whole, logits_whole, emb_whole = fitted(1 << 20)
    seen: list[int] = []
    forward = sparse.mlp_forward

    def counting(mlp, parts, *args, **kwargs):
        seen.append(parts[0].size(0))
        return forward(mlp, parts, *args, **kwargs)

    monkeypatch.setattr(sparse, "mlp_forward", counting)
    s_blocks, logits_blocks, emb_blocks = fitted(77)
    assert seen.count(75) >= 2 * 8  # MLP1 and MLP2 over the whole graph: ceil(600 / 77) = 8 blocks of 75 rows
    for a, b in zip(s_whole.state_dict().values(), s_blocks.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(logits_whole, logits_blocks) and torch.equal(emb_whole, emb_blocks)
