"""What one epoch of GLNN / the MLP baseline and of the student's MLP2 computes (issue 15): the training rows are
forwarded once, by the training step; the selection forwards the validation rows only. The logged ``train_acc`` is
the accuracy of that training forward (dropout on, before the step), so with dropout 0 it is the accuracy of the
weights the epoch started from."""

from __future__ import annotations

import torch

from graphlearn.data import dc_sbm
from graphlearn.data.splits import ColdStartSplit
from graphlearn.methods.coldbrew import ColdBrewStudent
from graphlearn.methods.coldbrew.glnn import MLPClassifier, train_glnn


def _graph():
    return ColdStartSplit(seed=0)(dc_sbm(300, num_features=16, seed=3))


def test_glnn_forwards_the_training_rows_once_per_epoch(monkeypatch):
    data = _graph()
    calls: list[tuple[int, bool]] = []
    forward = MLPClassifier.forward

    def counting(self, x, edge_index=None):
        calls.append((x.size(0), self.training))
        return forward(self, x, edge_index)

    monkeypatch.setattr(MLPClassifier, "forward", counting)
    epochs: list[dict] = []
    teacher = torch.randn(data.num_nodes, data.num_classes, generator=torch.Generator().manual_seed(0))
    kd = data.degree > 0
    torch.manual_seed(0)
    model, _ = train_glnn(data.x, data.y, teacher, train_mask=data.train_mask, val_mask=data.val_mask, kd_mask=kd,
                          lam=0.5, dropout=0.0, epochs=3, patience=None,
                          on_epoch=lambda stage, e, m: epochs.append(m))  # fmt: skip
    rows = int((data.train_mask | kd).sum())
    n_val = int(data.val_mask.sum())
    assert calls == [(rows, True), (n_val, False)] * 3  # no forward over the training rows to score them
    # with dropout 0 and a zero learning rate the weights never move: the training forward's accuracy (train_acc)
    # is then the final model's accuracy on the training nodes
    epochs.clear()
    model, _ = train_glnn(data.x, data.y, teacher, train_mask=data.train_mask, val_mask=data.val_mask, kd_mask=kd,
                          lam=0.5, dropout=0.0, epochs=2, lr=0.0, patience=None,
                          on_epoch=lambda stage, e, m: epochs.append(m))  # fmt: skip
    with torch.no_grad():
        acc = 100.0 * float((model(data.x)[data.train_mask].argmax(-1) == data.y[data.train_mask]).float().mean())
    assert [m["train_acc"] for m in epochs] == [acc, acc]


def test_student_mlp2_forwards_the_training_rows_once_per_epoch(monkeypatch):
    data = _graph()
    emb = torch.randn(data.num_nodes, 8, generator=torch.Generator().manual_seed(1))
    student = ColdBrewStudent(data.num_features, 8, data.num_classes, hidden_channels=16, dropout=0.0, k=5)
    sizes: list[int] = []
    mlp2 = ColdBrewStudent._mlp2

    def counting(self, parts):
        sizes.append(parts[0].size(0))
        return mlp2(self, parts)

    monkeypatch.setattr(ColdBrewStudent, "_mlp2", counting)
    history = student.fit(data.x, data.y, emb, train_mask=data.train_mask, val_mask=data.val_mask,
                          candidate_mask=data.degree > 0, epochs=4, patience=None)  # fmt: skip
    n_train, n_val = int(data.train_mask.sum()), int(data.val_mask.sum())
    assert sizes == [n_train, n_val] * 4  # the training step's forward, then the validation rows
    first = history["mlp2"].curve[0]
    assert 0.0 <= first["train_acc"] <= 100.0 and first["train_acc"] != history["mlp2"].curve[-1]["train_acc"]
