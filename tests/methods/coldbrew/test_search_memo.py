"""The student remembers its last large feature search (issue 15: a Cold Brew run searched every node of the
training graph several times, about 20 s each at 100k nodes), and the retrieval head scores at most ``max_queries``
validation queries. Both give the numbers they gave before."""

from __future__ import annotations

import pytest
import torch

from graphlearn.data import dc_sbm
from graphlearn.data.splits import ColdStartSplit
from graphlearn.methods.coldbrew import ColdBrewStudent
from graphlearn.methods.coldbrew import retrieval as retrieval_mod
from graphlearn.methods.coldbrew import student as student_mod


@pytest.fixture
def fitted(monkeypatch):
    monkeypatch.setattr(student_mod, "_MEMO_MIN_ROWS", 0)
    data = ColdStartSplit(seed=0)(dc_sbm(300, num_features=16, seed=3))
    emb = torch.randn(data.num_nodes, 8, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    s = ColdBrewStudent(
        data.num_features, 8, data.num_classes, hidden_channels=16, k=5, retrieval_dim=12, query="features"
    )
    s.fit(data.x, data.y, emb, train_mask=data.train_mask, val_mask=data.val_mask, candidate_mask=data.degree > 0,
          epochs=3, patience=None)  # fmt: skip
    return data, emb, s


def _count_searches(monkeypatch):
    calls = []
    real = student_mod.virtual_neighbors

    def counting(*args, **kwargs):
        calls.append(args[0].size(0))
        return real(*args, **kwargs)

    monkeypatch.setattr(student_mod, "virtual_neighbors", counting)
    return calls


def test_the_same_features_are_searched_once(fitted, monkeypatch):
    data, emb, s = fitted
    calls = _count_searches(monkeypatch)
    x, idx = data.x, torch.arange(data.num_nodes)
    first = s.logits(x, self_index=idx)  # fit searched the same features for MLP2's inputs
    assert calls == []
    again = s.logits(x, self_index=idx.clone())  # an equal self_index, another tensor
    assert torch.equal(first, again) and calls == []
    s.logits(x)  # no self-exclusion: another search
    assert len(calls) == 1
    s.logits(x, self_index=idx)
    other = idx.clone()
    other[0] = -1  # node 0 may now find itself
    s.logits(x, self_index=other)
    assert len(calls) == 3
    y = x.clone()  # equal values, another tensor: searched (identity, not contents, is the key)
    assert torch.equal(s.logits(y, self_index=idx), first) and len(calls) == 4


def test_inference_mode_tensors_are_searched_and_not_remembered(fitted, monkeypatch):
    """A tensor made under ``torch.inference_mode`` has no version counter, so the memo cannot key on it: such a
    batch is searched (it raised ``RuntimeError: Inference tensors do not track version counter`` before)."""
    data, emb, s = fitted
    calls = _count_searches(monkeypatch)
    expected = s.logits(data.x.clone())
    with torch.inference_mode():
        x = data.x.clone()
        assert x.is_inference()
        assert torch.equal(s.logits(x), expected) and torch.equal(s.logits(x), expected)
    assert len(calls) == 3  # the normal tensor once, the inference tensor on each call


def test_a_changed_tensor_or_teacher_is_searched_again(fitted, monkeypatch):
    data, emb, s = fitted
    calls = _count_searches(monkeypatch)
    x, idx = data.x.clone(), torch.arange(data.num_nodes)
    before = s.logits(x, self_index=idx)
    x[:5] = 0.0  # in place: the version counter moves
    changed = s.logits(x, self_index=idx)
    assert len(calls) == 2 and not torch.equal(before, changed)
    s.set_teacher(emb.flip(0), data.degree > 0, x)  # a new search space
    s.logits(x, self_index=idx)
    assert len(calls) == 3
    s.k = 3
    s.logits(x, self_index=idx)
    assert len(calls) == 4


def test_memo_off_gives_the_same_numbers(fitted, monkeypatch):
    data, emb, s = fitted
    idx = torch.arange(data.num_nodes)
    with_memo = [s.logits(data.x, self_index=idx) for _ in range(2)]
    monkeypatch.setattr(student_mod, "_MEMO_MIN_ROWS", 10**9)
    s.__dict__.pop("_search_memo", None)
    without = s.logits(data.x, self_index=idx)
    assert torch.equal(with_memo[0], without) and torch.equal(with_memo[1], without)


def test_retrieval_scores_a_sample_of_at_most_max_queries(fitted, monkeypatch):
    data, emb, s = fitted
    sizes = []
    real = retrieval_mod._scores

    def counting(q, index, queries, *args, **kwargs):
        sizes.append(queries.numel())
        return real(q, index, queries, *args, **kwargs)

    monkeypatch.setattr(retrieval_mod, "_scores", counting)
    kw = dict(train_mask=data.train_mask, val_mask=data.val_mask, max_steps=10, eval_every=5)
    full = s.fit_retrieval(data.x, data.y, data.edge_index, **kw)
    n_val = len(sizes) and max(sizes)
    assert 10 < n_val <= int(data.val_mask.sum())
    sizes.clear()
    small = s.fit_retrieval(data.x, data.y, data.edge_index, max_queries=10, **kw)
    assert sizes and max(sizes) <= 10 and small["features"] in retrieval_mod.FEATURE_VIEWS
    sizes.clear()
    again = s.fit_retrieval(data.x, data.y, data.edge_index, max_queries=int(data.val_mask.sum()), **kw)
    scored = lambda r: [(h["step"], h["val_recall"], h["val_precision"]) for h in r["history"]]  # noqa: E731
    assert again["val_recall"] == full["val_recall"] and scored(again) == scored(full)  # every query: unchanged
    with pytest.raises(ValueError, match=r"max_queries out of range \(got 0\)"):
        s.fit_retrieval(data.x, data.y, data.edge_index, max_queries=0, **kw)


def test_an_embedding_query_is_never_remembered(fitted, monkeypatch):
    """With ``query="embedding"`` the search reads MLP1's output, which training changes: no memo."""
    data, emb, s = fitted
    s.query = "embedding"
    s._cache = None
    calls = _count_searches(monkeypatch)
    idx = torch.arange(data.num_nodes)
    s.logits(data.x, self_index=idx)
    s.logits(data.x, self_index=idx)
    assert len(calls) == 2


def test_retrieval_sample_follows_the_similarity_budget(fitted, monkeypatch):
    data, emb, s = fitted
    sizes = []
    real = retrieval_mod._scores
    monkeypatch.setattr(
        retrieval_mod,
        "_scores",
        lambda q, i, queries, *a, **k: sizes.append(queries.numel()) or real(q, i, queries, *a, **k),
    )
    monkeypatch.setattr(retrieval_mod, "MAX_SCORED", 20 * data.num_nodes)  # 20 queries per evaluation
    monkeypatch.setattr(retrieval_mod, "MIN_QUERIES", 5)
    kw = dict(train_mask=data.train_mask, val_mask=data.val_mask, max_steps=5, eval_every=5)
    s.fit_retrieval(data.x, data.y, data.edge_index, **kw)
    assert sizes and max(sizes) <= 20
    sizes.clear()
    monkeypatch.setattr(retrieval_mod, "MIN_QUERIES", 40)  # the floor wins over the budget
    s.fit_retrieval(data.x, data.y, data.edge_index, **kw)
    assert 20 < max(sizes) <= 40
