"""Virtual neighbours: the top-K candidate embeddings nearest to a query,
softmax-weighted (Cold Brew, Eq. 4)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from graphlearn import sparse
from graphlearn.training import release_between

METRICS = ("ip", "cos", "l2")
BACKENDS = ("auto", "torch", "faiss", "ann")
# 'auto' switches to FAISS from this many candidates on. Below it the dense
# [queries x candidates] score matrix (computed in chunks) is cheap and
# torch.topk avoids a copy to NumPy.
FAISS_MIN_CANDIDATES = 20_000
# From this many candidates on, the student searches an approximate FAISS HNSW index built once (AnnIndex): the
# cost per query then grows like log(candidates) instead of linearly (exact search is kept below: same numbers).
ANN_MIN_CANDIDATES = 50_000
# ... but only for batches of fewer than this many queries (served requests). A larger batch is searched exactly:
# one blocked product over every candidate costs less per query than HNSW's graph walk on this CPU (80k candidates
# of width 64, 10k queries, 1 thread: FAISS flat 2.6 s, HNSW 6.8 s plus 29 s to build; benchmarks/results/speed.md),
# and its neighbours are exact. Training and whole-graph inference are such batches.
ANN_MAX_QUERIES = 64
# From this many candidates on, every batch uses the index again: the exact product's cost per query grows with the
# candidates, HNSW's like their log (200k candidates, 2k queries: flat 0.47 ms, HNSW 0.60 ms per query, about the
# crossover), and a 2M-node graph searched exactly would cost ~10^14 flop.
ANN_BATCH_MIN_CANDIDATES = 200_000
# FAISS's exact search scores a batch by one BLAS product per block of candidates only above its
# ``distance_compute_blas_threshold`` (128,000 in faiss-cpu 1.15: 2,000 queries of width 64), and below it by a
# per-query loop. On this CPU (25,500 candidates of width 64, k = 50, one thread) BLAS was faster from 8 queries on:
# 0.64 against 0.81 ms for 8, 3.7 against 10.3 ms for 64, 73 against 139 ms for 1,200 (about 3.4 GFLOP/s more
# for a batch of new nodes); 0.40 against 0.11 ms for one query. From this many queries on, _search_faiss uses BLAS.
FAISS_BLAS_MIN_QUERIES = 8
_CHUNK = 4096


class VirtualNeighbors(NamedTuple):
    index: Tensor  # int64 [n, k], rows of the candidate matrix, best first
    weight: Tensor  # float [n, k], softmax(score / temperature), rows sum to 1
    aggregate: Tensor  # float [n, d], sum_k weight * candidates[index]


def _scores(queries: Tensor, candidates: Tensor, metric: str) -> Tensor:
    if metric == "l2":
        return -torch.cdist(queries, candidates).pow(2)
    return queries @ candidates.t()


def _search_torch(queries: Tensor, candidates: Tensor, k: int, metric: str):
    if sparse.is_sparse(queries):
        return _search_sparse(queries, candidates, k, metric)
    scores, index = [], []
    for start in range(0, queries.size(0), _CHUNK):
        s, i = _scores(queries[start : start + _CHUNK], candidates, metric).topk(k, dim=-1)
        scores.append(s)
        index.append(i)
    return torch.cat(scores), torch.cat(index)


def _search_sparse(queries: Tensor, candidates: Tensor, k: int, metric: str):
    """Exact search for CSR queries (bag-of-words features): one sparse x dense product per chunk, so the
    cost is ``nnz(queries) * c`` instead of ``n * d * c`` (Coauthor-CS: 60 of 6805 entries per row stored)."""
    # a transposed view, not a per-call .contiguous() copy (14 MB on Cora): the same scores in the same time
    # (benchmarks/results/speed.md, case "search")
    keys_t = candidates.t()
    sq_keys = sparse.row_sq_norms(candidates) if metric == "l2" else None
    queries = queries.to_sparse_csr() if queries.layout != torch.sparse_csr else queries
    scores, index = [], []
    # between blocks, their dense scores would otherwise stay resident, block by block
    for start in release_between(range(0, queries.size(0), _CHUNK)):
        if queries.size(0) <= _CHUNK:  # one chunk: the queries themselves (slicing a CSR matrix is a conversion)
            q = queries
        else:
            rows = torch.arange(start, min(start + _CHUNK, queries.size(0)), device=queries.device)
            q = sparse.take_rows(queries, rows)
        s = torch.sparse.mm(q, keys_t)
        if metric == "l2":  # -|q - c|^2 = 2 q.c - |c|^2 - |q|^2
            s = 2 * s - sq_keys - sparse.row_sq_norms(q).unsqueeze(-1)
        s, i = s.topk(k, dim=-1)
        scores.append(s)
        index.append(i)
        del q, s
    return torch.cat(scores), torch.cat(index)


#: Dense query elements per block of a search against CSR keys (64 MB as float32).
_DENSE_BLOCK = 1 << 24


def _search_sparse_keys(queries: Tensor, keys: Tensor, k: int, metric: str):
    """Exact search against CSR keys ``[c, d]`` (wide bag-of-words candidates kept sparse, see
    :data:`graphlearn.sparse.STORE_SPARSE_MIN_ELEMENTS`): per block of queries, made dense (at most
    :data:`_DENSE_BLOCK` elements, as are its scores), the scores are one sparse x dense product ``keys @ block^T``,
    so neither the keys nor all queries are ever dense."""
    # a block's dense queries and its scores each hold at most _DENSE_BLOCK elements (Coauthor-CS: 987 queries of
    # 17k candidates; 2,465 rows made one seed peak 400 MB higher)
    rows = max(1, min(_CHUNK, _DENSE_BLOCK // max(queries.size(1), 1), _DENSE_BLOCK // max(keys.size(0), 1)))
    sq_keys = None
    if metric == "l2":  # summed as the dense keys' are (per dense block), so that ties break the same way
        blocks = range(0, keys.size(0), rows)
        sq_keys = torch.cat([sparse.dense_rows(keys, i, i + rows).pow(2).sum(-1) for i in blocks])
    scores, index = [], []
    # between blocks, their dense queries and scores would otherwise stay resident
    for start in release_between(range(0, queries.size(0), rows)):
        q = sparse.dense_rows(queries, start, start + rows)
        s = torch.sparse.mm(keys, q.t()).t()
        if metric == "l2":  # the query norms as _search_sparse takes them (CSR rows when the queries are CSR)
            block = (
                sparse.take_rows(queries, torch.arange(start, start + q.size(0), device=q.device))
                if sparse.is_sparse(queries)
                else q
            )
            s = 2 * s - sq_keys - sparse.row_sq_norms(block).unsqueeze(-1)
        s, i = s.topk(k, dim=-1)
        scores.append(s)
        index.append(i)
        del q, s
    return torch.cat(scores), torch.cat(index)


def _flat_index(candidates: Tensor, metric: str):
    """FAISS's exact index over ``candidates``, kept on the tensor until it changes (its version counter): copying the
    student's transposed keys into a new index was 5 % of a batch of 1,200 new nodes (25,500 candidates).
    Tensors made under ``torch.inference_mode`` have no version counter and get a new index every call."""
    import faiss  # noqa: PLC0415

    key = None if candidates.is_inference() else (candidates._version, candidates.data_ptr(), metric)
    hit = candidates.__dict__.get("_graphlearn_flat")
    if key is not None and hit is not None and hit[0] == key:
        return hit[1]
    cand = np.ascontiguousarray(candidates.detach().cpu().numpy(), dtype=np.float32)
    index = faiss.IndexFlatL2(cand.shape[1]) if metric == "l2" else faiss.IndexFlatIP(cand.shape[1])
    index.add(cand)
    if key is not None:
        candidates.__dict__["_graphlearn_flat"] = (key, index)
    return index


def _search_faiss(queries: Tensor, candidates: Tensor, k: int, metric: str):
    import faiss  # faiss-cpu; imported here so the module loads without it

    if sparse.is_sparse(queries):  # FAISS searches dense vectors
        queries = queries.to_dense()
    qry = np.ascontiguousarray(queries.detach().cpu().numpy(), dtype=np.float32)
    index = _flat_index(candidates, metric)
    blas = qry.shape[0] >= FAISS_BLAS_MIN_QUERIES
    before = faiss.cvar.distance_compute_blas_threshold
    if blas:
        faiss.cvar.distance_compute_blas_threshold = 0  # every batch of this size by BLAS (see FAISS_BLAS_MIN_QUERIES)
    try:
        scores, ids = index.search(qry, k)
    finally:
        faiss.cvar.distance_compute_blas_threshold = before
    scores = torch.from_numpy(scores).to(queries)
    if metric == "l2":  # IndexFlatL2 returns squared distances, ascending
        scores = -scores
    return scores, torch.from_numpy(ids).long().to(queries.device)


class AnnIndex:
    """An approximate nearest-neighbour index over candidate keys (FAISS ``IndexHNSWFlat``: M = 32,
    efConstruction = 80, efSearch = max(128, 2 k)), built once and searched many times. Scores are inner products
    (``"ip"``; cosine when the keys are normalised) or negative squared distances (``"l2"``), like the exact
    search's."""

    def __init__(self, keys: Tensor, metric: str, m: int = 32, ef_construction: int = 80, ef_search: int = 128):
        import faiss  # noqa: PLC0415

        if metric not in ("ip", "l2"):
            raise ValueError(f"AnnIndex metric must be 'ip' or 'l2' (got {metric!r}; normalise keys for 'cos')")
        self.metric, self.ef_search = metric, ef_search
        kind = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
        self.index = faiss.IndexHNSWFlat(keys.size(1), m, kind)
        self.index.hnsw.efConstruction = ef_construction
        self.index.add(np.ascontiguousarray(keys.detach().cpu().numpy(), dtype=np.float32))
        self.size = keys.size(0)

    def search(self, queries: Tensor, k: int) -> tuple[Tensor, Tensor]:
        if sparse.is_sparse(queries):
            queries = queries.to_dense()
        self.index.hnsw.efSearch = max(self.ef_search, 2 * k)
        q = np.ascontiguousarray(queries.detach().cpu().numpy(), dtype=np.float32)
        scores, ids = self.index.search(q, k)
        scores = torch.from_numpy(scores).to(queries)
        if self.metric == "l2":
            scores = -scores
        # HNSW returns -1 when it finds fewer than k (never with efSearch >= k on a connected graph): keep rows valid
        ids = torch.from_numpy(ids).long().clamp_min(0).to(queries.device)
        return scores, ids


def virtual_neighbors(
    queries: Tensor,
    candidates: Tensor,
    k: int,
    *,
    temperature: float = 1.0,
    metric: str = "ip",
    exclude: Tensor | None = None,
    backend: str = "auto",
    values: Tensor | None = None,
    ann: AnnIndex | None = None,
) -> VirtualNeighbors:
    r"""Top-``k`` virtual neighbours of every query among ``candidates``.

    The score of candidate :math:`j` for query :math:`q` is the inner product
    (``"ip"``, as in the paper's code), the cosine similarity (``"cos"``) or
    the negative squared Euclidean distance (``"l2"``). The ``k`` best are
    weighted by :math:`\operatorname{softmax}(s / \tau)` and averaged:
    ``aggregate = sum_k weight_k * candidates[index_k]``.

    Args:
        queries (Tensor): ``[n, d]``, dense or sparse CSR (bag-of-words features; searched
            with sparse products).
        candidates (Tensor): ``[c, d]``, dense or CSR (wide bag-of-words keys kept sparse; searched exactly by
            ``keys @ queries^T`` per block of queries, and ``values`` is then required).
        k (int): neighbours per query, ``1 <= k <= c`` (``k <= c - 1`` with
            ``exclude``).
        temperature (float): softmax temperature :math:`\tau > 0`. (default: ``1.0``)
        metric (str): ``"ip"``, ``"cos"`` or ``"l2"``. (default: ``"ip"``)
        exclude (Tensor, optional): int64 ``[n]``, a candidate row each query
            must not get (its own row when the query is itself a candidate),
            ``-1`` for none. (default: ``None``)
        backend (str): ``"torch"`` (exact, ``torch.topk``), ``"faiss"`` (exact,
            ``IndexFlatIP`` / ``IndexFlatL2``), ``"ann"`` (approximate, an
            :class:`AnnIndex` built for this call) or ``"auto"`` (FAISS from
            :data:`FAISS_MIN_CANDIDATES` candidates on). (default: ``"auto"``)
        values (Tensor, optional): ``[c, d']`` rows aggregated instead of
            ``candidates`` (search in one space, aggregate another, e.g. find
            neighbours by features and average their teacher embeddings).
            (default: ``None``, the candidates)
        ann (AnnIndex, optional): a prebuilt approximate index over the (normalised, for ``"cos"``) candidates;
            when given it answers the search (``backend`` is ignored). (default: ``None``)
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {list(METRICS)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    if candidates.dim() != 2 or candidates.size(0) == 0:
        raise ValueError(
            f"the candidate set is empty (candidates shape "
            f"{list(candidates.shape)}); virtual neighbours need at "
            f"least one node with a neighbourhood"
        )
    if queries.dim() != 2 or queries.size(1) != candidates.size(1):
        raise ValueError(f"queries must have shape [n, {candidates.size(1)}] (got {list(queries.shape)})")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (got {temperature})")
    extra = 1 if exclude is not None else 0
    num_candidates = candidates.size(0)
    if not 1 <= k <= num_candidates - extra:
        what = f"{num_candidates} candidates" + (" minus the excluded self" if extra else "")
        raise ValueError(
            f"K={k} neighbours requested but only "
            f"{num_candidates - extra} available ({what}); "
            f"use 1 <= K <= {num_candidates - extra}"
        )
    if values is not None and (values.dim() != 2 or values.size(0) != candidates.size(0)):
        raise ValueError(
            f"values must have one row per candidate, [{candidates.size(0)}, d] (got {list(values.shape)})"
        )
    if exclude is not None and exclude.shape != (queries.size(0),):
        raise ValueError(f"exclude must have shape [{queries.size(0)}] (got {list(exclude.shape)})")

    keys = candidates
    if metric == "cos":
        queries = sparse.normalize_rows(queries)
        keys = sparse.normalize_rows(candidates)
    if sparse.is_sparse(keys):
        if values is None:
            raise ValueError("CSR candidates need values (the rows to aggregate): a sparse matrix is not averaged")
        if ann is not None or backend in ("faiss", "ann"):
            raise ValueError(f"backend {backend!r} searches dense vectors; CSR candidates are searched exactly")
        keys = keys if keys.layout == torch.sparse_csr else keys.to_sparse_csr()
        scores, index = _search_sparse_keys(queries, keys, k + extra, metric)
    else:
        if ann is None and backend == "ann":
            ann = AnnIndex(keys, "ip" if metric == "cos" else metric)
        if ann is not None:
            if ann.size != num_candidates:
                raise ValueError(f"the ANN index holds {ann.size} candidates but {num_candidates} were given")
            scores, index = ann.search(queries, k + extra)
        else:
            use_faiss = backend == "faiss" or (backend == "auto" and num_candidates >= FAISS_MIN_CANDIDATES)
            search = _search_faiss if use_faiss else _search_torch
            scores, index = search(queries, keys, k + extra, metric)

    if extra:
        # Drop the excluded row where it was found, otherwise the last (k+1-th).
        drop = index == exclude.view(-1, 1)
        drop[:, -1] |= ~drop.any(dim=-1)
        keep = ~drop
        scores = scores[keep].view(-1, k)
        index = index[keep].view(-1, k)

    weight = torch.softmax(scores / temperature, dim=-1)
    # The aggregate mixes the caller's candidates (not the normalised keys), or ``values``.
    rows = candidates if values is None else values
    # einsum("nk,nkd->nd") as bmm: the same values with less overhead; by blocks of queries, so that the gathered
    # [n, k, d] neighbour rows never exist at once (Coauthor-CS: 240 MB, a seed's peak)
    aggregate = torch.cat(
        [
            torch.bmm(weight[i : i + _CHUNK].unsqueeze(1), rows[index[i : i + _CHUNK]]).squeeze(1)
            for i in range(0, max(index.size(0), 1), _CHUNK)
        ]
    )
    return VirtualNeighbors(index, weight, aggregate)
