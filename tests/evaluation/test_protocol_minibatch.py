"""``run_protocol`` trains row-independent models (MLP, SIGN, SGC) in mini-batches above ``full_batch_rows``
(``batch_size``), and refuses mini-batches for a model that propagates in training."""

from __future__ import annotations

import pytest

from graphlearn.data import dc_sbm
from graphlearn.evaluation import run_protocol
from graphlearn.models import build_model


def _data():
    return dc_sbm(400, num_features=16, seed=5)


@pytest.mark.parametrize("name", ["mlp", "sign"])
def test_minibatch_protocol_takes_a_pass_of_steps_per_epoch(name):
    data = _data()
    model = build_model(name, data.num_features, 32, data.num_classes)
    steps: list[int] = []
    model.register_forward_hook(lambda m, i, o: steps.append(o.size(0)) if m.training else None)
    res = run_protocol(model, data, runs=1, epochs=5, progress=False, batch_size=50, full_batch_rows=0)
    n_train = int(data.train_mask.sum())
    per_epoch = -(-n_train // 50)
    assert len(steps) == 5 * per_epoch and sum(steps[:per_epoch]) == n_train
    assert res.per_run[0]["overall"] > 100.0 / data.num_classes  # it learns (chance is 1 / classes)
    steps.clear()
    full = run_protocol(model, data, runs=1, epochs=5, progress=False, batch_size=50)  # below the threshold
    assert steps == [data.num_nodes] * 5  # one full-batch forward per epoch
    plain = run_protocol(model, data, runs=1, epochs=5, progress=False)
    assert full.per_run == plain.per_run and full.best_epochs == plain.best_epochs  # full batch, bit for bit


def test_minibatch_protocol_refuses_a_graph_model():
    data = _data()
    model = build_model("gcn", data.num_features, 16, data.num_classes)
    with pytest.raises(ValueError, match="batch_size=64 needs a model whose rows are independent.*GCN"):
        run_protocol(model, data, runs=1, epochs=2, progress=False, batch_size=64)
