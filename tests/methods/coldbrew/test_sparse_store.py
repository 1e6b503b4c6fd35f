"""Wide bag-of-words features kept sparse end to end (graphlearn.sparse.compact): the Cold Brew job, its student's
candidate keys and its file hold CSR matrices, and every prediction is the dense path's (the teachers', the student's
and the retrieval head's numbers bit for bit)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphlearn import model_io, sparse, training
from graphlearn.data.splits import ColdStartSplit
from graphlearn.data.synthetic import dc_sbm
from graphlearn.methods.coldbrew import ColdBrewConfig, neighbors, run_coldbrew
from graphlearn.methods.coldbrew.neighbors import virtual_neighbors
from graphlearn.methods.coldbrew.student import check_features

FAST = dict(epochs=25, patience=10, k=8, retrieval_dim=16, retrieval_batch=128, retrieval_steps=20)


def bag_of_words_graph(n: int = 300, width: int = 200, seed: int = 0):
    """A DC-SBM graph whose features are a sparse, class-dependent bag of words (about 4 % non-zero, row-normalised
    like Cora's), so that the binary-ish cosines have exact ties, where rounding decides the neighbours."""
    g = dc_sbm(n, num_features=8, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    topic = torch.rand(int(g.y.max()) + 1, width, generator=gen) < 0.08
    words = (torch.rand(n, width, generator=gen) < 0.03) | (topic[g.y] & (torch.rand(n, width, generator=gen) < 0.3))
    x = words.float()
    g.x = x / x.sum(1, keepdim=True).clamp_min(1)
    return ColdStartSplit(seed=seed)(g)


def test_compact_rule():
    x = bag_of_words_graph().x
    assert sparse.compact(x) is x  # below STORE_SPARSE_MIN_ELEMENTS: unchanged
    c = sparse.compact(x, min_elements=0)
    assert c.layout == torch.sparse_csr and torch.equal(c.to_dense(), x)
    assert sparse.compact(c) is c
    dense = torch.rand(50, 300)  # wide but mostly non-zero: stays dense at any size
    assert sparse.compact(dense, min_elements=0) is dense
    narrow = (torch.rand(50, 16) < 0.05).float()  # narrower than MIN_COLUMNS: stays dense
    assert sparse.compact(narrow, min_elements=0) is narrow


def test_map_dense_rows_is_the_dense_function_bit_for_bit():
    x = bag_of_words_graph().x
    c = sparse.compact(x, min_elements=0)
    out = sparse.map_dense_rows(c, lambda b: F.normalize(b, dim=-1), block_elements=200 * 7)  # 7-row blocks
    assert out.layout == torch.sparse_csr
    assert torch.equal(out.to_dense(), F.normalize(x, dim=-1))


@pytest.mark.parametrize("block", [None, 200 * 7])
@pytest.mark.parametrize("metric", ["ip", "cos", "l2"])
def test_search_against_csr_keys(metric, block, monkeypatch):
    if block is not None:  # blocks of 7 queries: the same neighbours as one block
        monkeypatch.setattr(neighbors, "_DENSE_BLOCK", block)
    x = bag_of_words_graph().x
    keys, values = x[:200], torch.randn(200, 6)
    if metric == "cos":
        keys = F.normalize(keys, dim=-1)
        metric_used = "ip"  # the student's own convention: keys normalised once, searched by inner product
    else:
        metric_used = metric
    queries = sparse.model_input(x)
    exclude = torch.where(torch.arange(300) < 200, torch.arange(300), torch.full((300,), -1))
    dense = virtual_neighbors(queries, keys, 5, metric=metric_used, values=values, exclude=exclude)
    csr = virtual_neighbors(
        queries, sparse.compact(keys, min_elements=0), 5, metric=metric_used, values=values, exclude=exclude
    )
    assert torch.equal(dense.index, csr.index) and torch.equal(dense.aggregate, csr.aggregate)


def test_search_against_csr_keys_refuses_what_it_cannot_do():
    keys = sparse.compact(bag_of_words_graph().x[:50], min_elements=0)
    q = bag_of_words_graph().x[:4]
    with pytest.raises(ValueError, match="need values"):
        virtual_neighbors(q, keys, 3)
    with pytest.raises(ValueError, match="searches dense vectors"):
        virtual_neighbors(q, keys, 3, values=torch.zeros(50, 2), backend="faiss")


@pytest.fixture(scope="module")
def both():
    split = bag_of_words_graph()
    stored = split.clone()
    stored.x = sparse.compact(split.x, min_elements=0)
    assert stored.x.layout == torch.sparse_csr
    cfg = ColdBrewConfig(**FAST)
    return split, stored, run_coldbrew(split, cfg, seed=0), run_coldbrew(stored, cfg, seed=0)


def test_job_on_csr_features_gives_the_dense_numbers(both):
    _, _, dense, csr = both
    for name, model in dense["models"].items():
        assert torch.equal(model["pred"], csr["models"][name]["pred"]), name
        assert model["acc"] == csr["models"][name]["acc"], name
        if model["logits"] is None:
            continue
        if name in ("MLP", "GLNN"):  # trained on the same CSR input; their final pass takes x as stored (rounding)
            torch.testing.assert_close(model["logits"], csr["models"][name]["logits"])
        else:  # the teachers and the student make x CSR themselves: the same bits
            assert torch.equal(model["logits"], csr["models"][name]["logits"]), name
    assert dense["retrieval"]["val_recall"] == csr["retrieval"]["val_recall"]
    student = csr["trained"]["ColdBrew"]
    assert student.candidate_features.layout == torch.sparse_csr  # the candidates' rows, never densified
    assert dense["trained"]["ColdBrew"].candidate_features.layout == torch.strided  # small graph: dense as before


def test_student_with_csr_candidates_saves_loads_and_answers(both, tmp_path):
    split, stored, _, csr = both
    student = csr["trained"]["ColdBrew"]
    path = model_io.save(student, tmp_path / "s.pt")
    loaded = model_io.load(path)
    assert loaded.candidate_features.layout == torch.sparse_csr
    assert torch.equal(loaded.candidate_features.to_dense(), student.candidate_features.to_dense())
    new = split.x[split.isolated_mask]
    batch = loaded.logits(new)
    torch.testing.assert_close(batch, student.logits(new))
    torch.testing.assert_close(loaded.logits(new[:1]), batch[:1])  # one row: the torch path answers (no NumPy one)
    torch.testing.assert_close(loaded.logits(sparse.compact(new, min_elements=0)), batch)
    with pytest.raises(ValueError, match="torch.export"):
        student.serving()


def test_nan_in_csr_features_is_named_without_densifying():
    x = sparse.compact(bag_of_words_graph().x, min_elements=0)
    values = x.values().clone()
    row = 17
    values[x.crow_indices()[row]] = float("nan")
    bad = torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values, x.shape)
    with pytest.raises(ValueError, match=rf"1 row\(s\), first row {row}: \[nan"):
        check_features(bad, x.size(1), torch.float32)


def test_aggregate_by_blocks_is_the_whole_product(monkeypatch):
    x = sparse.model_input(bag_of_words_graph().x)
    keys, values = F.normalize(bag_of_words_graph().x[:120], dim=-1), torch.randn(120, 6)
    whole = virtual_neighbors(x, keys, 5, values=values)
    monkeypatch.setattr(neighbors, "_CHUNK", 7)  # blocks of 7 queries for the search and the aggregate
    blocks = virtual_neighbors(x, keys, 5, values=values)
    assert torch.equal(whole.index, blocks.index) and torch.equal(whole.aggregate, blocks.aggregate)
    reference = torch.einsum("nk,nkd->nd", whole.weight, values[whole.index])
    torch.testing.assert_close(whole.aggregate, reference)


@pytest.mark.parametrize("keys_csr", [False, True])
def test_block_wise_search_trims_the_heap_only_between_blocks(keys_csr, monkeypatch):
    """One block (a served batch) never calls malloc_trim: handing its freed scores back to the OS and faulting them
    in again on the next call was half of a 200-node Cora batch's time. Several blocks trim between them only, and
    every block count gives the same neighbours."""
    x = bag_of_words_graph().x
    keys, values = F.normalize(x[:200], dim=-1), torch.randn(200, 6)
    keys = sparse.compact(keys, min_elements=0) if keys_csr else keys
    queries = sparse.model_input(x)
    trims = []
    monkeypatch.setattr(training, "release_freed_memory", lambda: trims.append(1))
    one = virtual_neighbors(queries, keys, 5, metric="ip", values=values)
    assert trims == []
    if keys_csr:
        monkeypatch.setattr(neighbors, "_DENSE_BLOCK", 200 * 7)  # 7 queries per block
    else:
        monkeypatch.setattr(neighbors, "_CHUNK", 7)
    blocks = -(-x.size(0) // 7)
    many = virtual_neighbors(queries, keys, 5, metric="ip", values=values)
    assert len(trims) == blocks - 1
    assert torch.equal(one.index, many.index) and torch.equal(one.aggregate, many.aggregate)
