"""The approximate virtual-neighbour search for large candidate sets (FAISS HNSW, built once per student)."""

import pytest
import torch

from graphlearn.methods.coldbrew import ColdBrewStudent, load, save, virtual_neighbors
from graphlearn.methods.coldbrew.neighbors import AnnIndex


def _clustered(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(30, d, generator=g)
    return centres[torch.randint(0, 30, (n,), generator=g)] + 0.5 * torch.randn(n, d, generator=g)


@pytest.mark.parametrize("metric", ["cos", "l2"])
def test_ann_search_finds_the_exact_neighbours(metric):
    cand, query = _clustered(5000, 16), _clustered(100, 16, seed=1)
    exact = virtual_neighbors(query, cand, k=10, metric=metric, backend="torch")
    approx = virtual_neighbors(query, cand, k=10, metric=metric, backend="ann")
    recall = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(exact.index, approx.index)) / 1000
    assert recall > 0.9, recall
    err = (exact.aggregate - approx.aggregate).abs().mean() / exact.aggregate.abs().mean()
    assert err < 0.05, err


def test_student_switches_to_ann_from_the_threshold_and_agrees(tmp_path):
    n, f = 600, 12
    x = _clustered(n, f)
    y = torch.randint(0, 3, (n,), generator=torch.Generator().manual_seed(0))
    emb = torch.randn(n, 8)
    masks = {k: torch.zeros(n, dtype=torch.bool) for k in ("train", "val")}
    masks["train"][:300], masks["val"][300:400] = True, True
    cand = torch.ones(n, dtype=torch.bool)
    out = {}
    for name, threshold in (("exact", None), ("ann", 100)):
        torch.manual_seed(0)
        s = ColdBrewStudent(
            f, 8, 3, hidden_channels=16, k=5, metric="cos", query="features", ann_min_candidates=threshold
        )
        s.fit(x, y, emb, train_mask=masks["train"], val_mask=masks["val"], candidate_mask=cand, epochs=5, patience=None)
        assert (s._search_space()[3] is not None) == (name == "ann")
        out[name] = s
    new = _clustered(50, f, seed=2)
    agree = (out["exact"].predict(new) == out["ann"].predict(new)).float().mean()
    assert agree > 0.9, agree
    path = save(out["ann"], tmp_path / "s.pt")
    loaded = load(path)
    assert loaded.ann_min_candidates == 100 and torch.equal(loaded.predict(new), out["ann"].predict(new))


def test_bad_ann_settings_are_named():
    with pytest.raises(ValueError, match="ann_min_candidates must be >= 1 or None"):
        ColdBrewStudent(4, 4, 2, ann_min_candidates=0)
    with pytest.raises(ValueError, match="AnnIndex metric must be 'ip' or 'l2'"):
        AnnIndex(torch.randn(10, 4), "cos")
    ann = AnnIndex(torch.randn(10, 4), "ip")
    with pytest.raises(ValueError, match="the ANN index holds 10 candidates but 12 were given"):
        virtual_neighbors(torch.randn(2, 4), torch.randn(12, 4), k=2, ann=ann)


def test_large_batches_are_searched_exactly_and_the_index_is_built_for_small_ones():
    from graphlearn.methods.coldbrew.neighbors import ANN_MAX_QUERIES

    n, f = 600, 12
    x = _clustered(n, f)
    y = torch.randint(0, 3, (n,), generator=torch.Generator().manual_seed(0))
    masks = {k: torch.zeros(n, dtype=torch.bool) for k in ("train", "val")}
    masks["train"][:300], masks["val"][300:400] = True, True
    torch.manual_seed(0)
    s = ColdBrewStudent(f, 8, 3, hidden_channels=16, k=5, metric="cos", query="features", ann_min_candidates=100)
    s.fit(
        x, y, torch.randn(n, 8), train_mask=masks["train"], val_mask=masks["val"],
        candidate_mask=torch.ones(n, dtype=torch.bool), epochs=5, patience=None,
    )  # fmt: skip
    assert s._cache[3] is None  # training searched whole batches: no index was built
    batch = _clustered(ANN_MAX_QUERIES, f, seed=3)
    approx_batch = s.logits(batch)
    assert s._cache[3] is None
    few = batch[: ANN_MAX_QUERIES - 1]
    approx_few = s.logits(few)
    assert s._cache[3] is not None  # built for the small batch, kept
    s.ann_min_candidates, s._cache = None, None  # the same student, always exact
    torch.testing.assert_close(s.logits(batch), approx_batch, rtol=0, atol=0)
    exact_few = s.logits(few)
    assert (exact_few.argmax(-1) == approx_few.argmax(-1)).float().mean() > 0.9


def test_from_the_batch_threshold_every_batch_uses_the_index(monkeypatch):
    from graphlearn.methods.coldbrew import student as student_module

    n, f = 300, 6
    x = _clustered(n, f)
    s = ColdBrewStudent(f, 4, 2, hidden_channels=8, k=3, metric="cos", query="features", ann_min_candidates=50)
    s.set_teacher(torch.randn(n, 4), torch.ones(n, dtype=torch.bool), features=x)
    assert s._search_space(1000)[3] is None  # a large batch, 300 candidates: exact
    monkeypatch.setattr(student_module, "ANN_BATCH_MIN_CANDIDATES", 200)
    s._cache = None
    assert s._search_space(1000)[3] is not None  # 300 >= 200 candidates: the index for every batch


@pytest.mark.parametrize("queries", [3, 40])  # below and from FAISS_BLAS_MIN_QUERIES
@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_exact_faiss_search_keeps_its_index_on_the_keys_and_faiss_settings_unchanged(monkeypatch, queries, metric):
    """``_search_faiss`` builds FAISS's flat index once per candidate tensor (rebuilt when the tensor changes), scores
    batches of 8+ queries by BLAS and leaves FAISS's global BLAS threshold as it found it; its neighbours are the
    exact ones (``torch.topk``)."""
    import faiss

    from graphlearn.methods.coldbrew import neighbors

    cand, query = _clustered(3000, 16), _clustered(queries, 16, seed=1)
    built, thresholds = [], []
    real = faiss.IndexFlatIP if metric == "ip" else faiss.IndexFlatL2

    class Recording(real):
        def __init__(self, d):
            built.append(d)
            super().__init__(d)

        def search(self, x, k, **kwargs):
            thresholds.append(faiss.cvar.distance_compute_blas_threshold)  # what the search runs with
            return super().search(x, k, **kwargs)

    monkeypatch.setattr(faiss, "IndexFlatIP" if metric == "ip" else "IndexFlatL2", Recording)
    before = faiss.cvar.distance_compute_blas_threshold
    exact = virtual_neighbors(query, cand, k=7, metric=metric, backend="torch")
    for _ in range(2):
        found = virtual_neighbors(query, cand, k=7, metric=metric, backend="faiss")
        assert torch.equal(found.index, exact.index)
        assert torch.allclose(found.aggregate, exact.aggregate, rtol=1e-4, atol=1e-4)
    assert len(built) == 1 and faiss.cvar.distance_compute_blas_threshold == before  # one index for both calls
    cand.mul_(-1.0)  # changed in place: the kept index is stale and is rebuilt
    flipped = virtual_neighbors(query, cand, k=7, metric=metric, backend="faiss")
    assert len(built) == 2
    assert torch.equal(flipped.index, virtual_neighbors(query, cand, k=7, metric=metric, backend="torch").index)
    blas = queries >= neighbors.FAISS_BLAS_MIN_QUERIES  # 40 queries: BLAS (threshold 0); 3: FAISS's own rule
    assert thresholds == [0 if blas else before] * 3 and blas == (queries == 40)
