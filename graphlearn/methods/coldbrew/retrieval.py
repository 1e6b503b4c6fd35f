"""Opt-in retrieval head of the Cold Brew student: a features-only embedding for nearest-node search.

MLP1's space regresses the teacher's embeddings, which are class-level: good for classification, poor at finding a
node's actual neighbours (``benchmarks/results/export_retrieval.md``). The head gives every node (training-graph
nodes and brand-new ones alike, from features only) the unit vector

    v(x) = [ sqrt(1 - mix) * normalize(W x̂),  sqrt(mix) * normalize(softmax(MLP2 logits)) ]

so that cosine(v_a, v_b) = (1 - mix) * cos(W x̂_a, W x̂_b) + mix * cos(p_a, p_b): a learnt linear projection of
the L2-normalised features ``x̂`` (fine identity) plus the student's class distribution (class-level agreement,
for precision). ``x̂`` is the node's features in the **feature view** chosen on validation (:data:`FEATURE_VIEWS`):
the values as given, or which words a bag of words holds (``presence``), optionally weighted by idf
(``presence-idf``). On Coauthor-CS (keyword counts) presence-idf is chosen and lifts the isolated nodes' recall@10
from 50 to 59 (raw features: 55; ``benchmarks/results/export_retrieval_coauthor-cs.md``).
Its width is ``retrieval_dim``: ``retrieval_dim - num_classes`` for ``W``, ``num_classes`` for the class block.

Training (:func:`fit_retrieval`, after MLP1 / MLP2, which it leaves untouched):

* ``W`` starts at the top right-singular vectors of ``x̂`` (truncated SVD: cosine in the SVD space approximates
  raw-feature cosine) and is trained with a symmetric InfoNCE loss (in-batch negatives, temperature ``tau``) on
  two kinds of positive pairs: the **training graph's edges that touch no validation node** (graph neighbours
  share more than features show), and each node's ``knn`` **nearest nodes by raw-feature cosine** (features only,
  no edges: keeps the fine identity that the SVD would lose);
* every ``eval_every`` steps the head is scored on the **validation nodes** as cold-start queries (their edges were
  kept out of the loss): recall@10 of their edges' endpoints plus same-class precision@10 over results with a
  known training / validation label; the best step is kept (early stopping with ``patience`` evaluations);
* the feature view (``features="auto"``) is chosen first, before training: the view whose own cosine (no
  learning) retrieves the validation queries' neighbours best (recall + precision; ties: the earlier in
  :data:`FEATURE_VIEWS`); the kNN positives and the SVD start are taken in that view;
* ``mix`` is then the value of ``MIXES`` with the best validation recall + precision (ties: the smaller).

The validation queries' class block comes from MLP2 with the node kept out of its own virtual neighbours (as for
an unseen node). No isolated node's edges are used (they are absent from the training graph) and no test label.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphlearn import sparse
from graphlearn.training import kept_heap, release_between

__all__ = ["RetrievalHead", "fit_retrieval", "MIXES", "FEATURE_VIEWS", "presence", "idf_weights"]

#: An evaluation of the head scores every validation query against every node; above this many similarities per
#: evaluation (queries x nodes) it scores a seeded sample of the queries instead (at least MIN_QUERIES of them).
#: Every staged public graph stays below it (Coauthor-CS: 3.3k queries x 18.3k nodes = 6.1e7).
MAX_SCORED = 1 << 26
MIN_QUERIES = 512

#: Candidate weights of the class block, chosen on validation.
MIXES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


#: How the head reads a node's features (``x̂`` in the module docstring), chosen on validation by
#: :func:`fit_retrieval` (``features="auto"``): the values as given, which entries are non-zero (``presence``: a
#: bag of words as a set of words), or presence weighted by inverse document frequency (``presence-idf``: rare
#: words count more, ``log((1 + n) / (1 + df)) + 1`` as scikit-learn's smoothed idf), each L2-normalised.
FEATURE_VIEWS = ("values", "presence", "presence-idf")


def presence(x: Tensor) -> Tensor:
    """``1`` where ``x`` (dense or CSR) has a non-zero entry, ``0`` elsewhere; CSR stays CSR."""
    if not sparse.is_sparse(x):
        return (x != 0).to(x.dtype)
    x = x if x.layout == torch.sparse_csr else x.to_sparse_csr()
    ones = (x.values() != 0).to(x.dtype)
    return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), ones, x.shape, check_invariants=False)


def idf_weights(x: Tensor) -> Tensor:
    """Smoothed inverse document frequency ``log((1 + n) / (1 + df_j)) + 1`` of every column of ``x`` (dense or
    CSR), ``df_j`` the number of rows with a non-zero entry in column ``j``."""
    n = x.size(0)
    if sparse.is_sparse(x):
        x = x if x.layout == torch.sparse_csr else x.to_sparse_csr()
        cols = x.col_indices()[x.values() != 0]
        df = torch.bincount(cols, minlength=x.size(1)).to(torch.float32)
    else:
        df = (x != 0).sum(0).to(torch.float32)
    return torch.log((1 + n) / (1 + df)) + 1


def _scale_columns(x: Tensor, w: Tensor) -> Tensor:
    if not sparse.is_sparse(x):
        return x * w
    x = x if x.layout == torch.sparse_csr else x.to_sparse_csr()
    values = x.values() * w[x.col_indices()]
    return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values, x.shape, check_invariants=False)


class RetrievalHead(nn.Module):
    """``W`` (``[dim, in_channels]``, no bias), the class-block weight ``mix`` (a buffer; ``-1`` until trained) and
    the feature view (buffers ``view``, an index into :data:`FEATURE_VIEWS`, and ``column_weight``, the idf
    weights of ``presence-idf``). Parameters are created without drawing random numbers, so that adding the head to
    a student does not move the random stream of MLP1 / MLP2's initialisation."""

    def __init__(self, in_channels: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim, in_channels))
        self.register_buffer("mix", torch.tensor(-1.0))
        self.register_buffer("view", torch.tensor(0))
        self.register_buffer("column_weight", torch.ones(in_channels))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # heads saved before the feature view existed read their features as given (``values``)
        state_dict.setdefault(prefix + "view", torch.tensor(0))
        state_dict.setdefault(prefix + "column_weight", torch.ones(self.weight.size(1)))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def trained(self) -> bool:
        return float(self.mix) >= 0

    @property
    def feature_view(self) -> str:
        return FEATURE_VIEWS[int(self.view)]

    def set_view(self, view: str, x: Tensor | None = None) -> None:
        """Read features as ``view`` (:data:`FEATURE_VIEWS`); ``presence-idf`` takes its weights from ``x``."""
        if view not in FEATURE_VIEWS:
            raise ValueError(f"unknown retrieval feature view {view!r}; choose from {list(FEATURE_VIEWS)}")
        self.view.fill_(FEATURE_VIEWS.index(view))
        weight = idf_weights(x) if view == "presence-idf" else torch.ones(self.weight.size(1))
        self.column_weight.copy_(weight.to(self.column_weight))

    def features(self, xm: Tensor) -> Tensor:
        """``x̂``: the feature view of a model input (dense or CSR), rows L2-normalised (CSR stays CSR)."""
        view = int(self.view)
        if view:
            xm = presence(xm)
            if view == 2:
                xm = _scale_columns(xm, self.column_weight.to(xm.dtype))
        return sparse.normalize_rows(xm)

    def project(self, xm: Tensor) -> Tensor:
        """``normalize(W x̂)`` of a model input (dense or CSR, see :func:`graphlearn.sparse.model_input`)."""
        return F.normalize(F.linear(self.features(xm), self.weight), dim=-1)

    def combine(self, z: Tensor, logits: Tensor, mix: float | Tensor | None = None) -> Tensor:
        mix = self.mix if mix is None else torch.as_tensor(mix, dtype=z.dtype)
        p = F.normalize(torch.softmax(logits, dim=-1), dim=-1)
        return torch.cat([z * (1 - mix).sqrt(), p * mix.sqrt()], dim=-1)


def _supcon(z: Tensor, labels: Tensor, tau: float) -> Tensor:
    """Supervised contrastive loss (Khosla et al., 2020) of unit rows ``z`` with classes ``labels``."""
    sim = z @ z.t() / tau
    eye = torch.eye(z.size(0), dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, -math.inf)
    pos = (labels.unsqueeze(0) == labels.unsqueeze(1)) & ~eye
    logp = sim.log_softmax(-1).masked_fill(eye, 0.0)
    has = pos.any(-1)
    return -((logp * pos).sum(-1)[has] / pos.sum(-1)[has]).mean() if bool(has.any()) else z.sum() * 0


def _nce(z: Tensor, pairs: Tensor, tau: float) -> Tensor:
    a, b = z[pairs[0]], z[pairs[1]]
    logits = a @ b.t() / tau
    target = torch.arange(logits.size(0), device=z.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def _mm_into(buffer: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``a @ b^T`` (``F.linear(a, b)``; ``a`` dense or CSR, ``b`` dense) written into the first rows of ``buffer``."""
    out = buffer[: a.size(0)]
    if sparse.is_sparse(a):
        return out.copy_(F.linear(a, b))  # no out= for sparse inputs
    return torch.mm(a, b.t(), out=out)


@torch.no_grad()
def _feature_knn(xn: Tensor, k: int, anchors: Tensor, chunk: int = 1024) -> Tensor:
    """``[2, len(anchors) * k]`` pairs (anchor, one of its ``k`` nearest other nodes by cosine of ``xn``, dense or
    CSR rows of unit norm)."""
    xm = sparse.model_input(xn)
    out = []
    # dense features: every block's [chunk, n] cosines are written into one buffer (a fresh block of that size was
    # page-faulted in every time: 20 x 410 MB at 100k nodes); CSR: between blocks, each block's scores would
    # otherwise stay resident next to the last one's
    buffer = None if sparse.is_sparse(xn) else torch.empty(min(chunk, anchors.numel()), xn.size(0), dtype=xn.dtype)
    for a in release_between(anchors.split(chunk)) if buffer is None else anchors.split(chunk):
        if buffer is None:  # CSR features kept sparse: all nodes' rows times the anchors' block, made dense
            s = torch.sparse.mm(xn, sparse.take_rows(xn, a).to_dense().t()).t()
        else:  # [chunk, n] cosines (CSR rows times dense features), as F.linear computes them
            s = _mm_into(buffer, sparse.take_rows(xm, a), xn)
        s[torch.arange(a.numel()), a] = -math.inf
        out.append(s.topk(k, dim=-1).indices)
        del s
    nb = torch.cat(out)
    return torch.stack([anchors.repeat_interleave(k), nb.reshape(-1)])


@torch.no_grad()
def _svd_init(xn: Tensor, dim: int, max_rows: int, gen: torch.Generator) -> Tensor:
    n = xn.size(0)
    rows = torch.randperm(n, generator=gen)[:max_rows] if n > max_rows else torch.arange(n)
    sub = sparse.take_rows(xn, rows).to_dense() if sparse.is_sparse(xn) else xn[rows]  # at most max_rows dense
    q = min(dim + 10, min(sub.shape))
    _, _, v = torch.svd_lowrank(sub, q=q, niter=4)
    w = torch.zeros(dim, xn.size(1))
    w[: min(dim, v.size(1))] = v[:, :dim].t()
    if v.size(1) < dim:  # fewer singular directions than the width: fill with small random directions
        w[v.size(1) :] = torch.randn(dim - v.size(1), xn.size(1), generator=gen) / math.sqrt(xn.size(1))
    return w


def _truth(edge_index: Tensor, nodes: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """The graph neighbours of ``nodes`` (either edge direction, no self): ``(queries, keys, counts)``, where
    ``queries`` are the nodes with at least one neighbour, ``keys`` the sorted ``query * n + neighbour`` of every
    (query, neighbour) pair and ``counts[i]`` the number of neighbours of ``queries[i]``. Vectorised: a loop over
    nodes that scans the edge list each time is quadratic on large graphs."""
    src, dst = edge_index
    is_node = torch.zeros(n, dtype=torch.bool, device=src.device)
    is_node[nodes] = True
    a = torch.cat([src[is_node[src]], dst[is_node[dst]]])
    b = torch.cat([dst[is_node[src]], src[is_node[dst]]])
    keep = a != b
    keys = torch.unique(a[keep] * n + b[keep])  # sorted, each pair once
    owners, counts = torch.unique_consecutive(keys // n, return_counts=True)
    return owners, keys, counts


def _scores(
    q: Tensor,
    index: Tensor,
    queries: Tensor,
    truth: tuple[Tensor, Tensor],
    y: Tensor,
    known: Tensor,
    k: int,
    chunk: int = 1024,
):
    """(recall@k, precision@k) in percent of ``q`` (query vectors of nodes ``queries``) against ``index``; ``truth``
    is ``(keys, counts)`` of :func:`_truth`. A node is never its own result; precision counts only results whose
    label is ``known``. Scored in blocks of ``chunk`` queries, so memory is ``chunk x nodes``, not ``queries x
    nodes``."""
    keys, counts = truth
    n = index.size(0)
    rec, same = [], []
    if sparse.is_sparse(index):  # CSR rows (a feature view): dense score blocks of at most 2^24 elements
        chunk = max(1, min(chunk, (1 << 24) // max(n, 1)))
    # dense index: every block's scores in one buffer (no fresh [chunk, nodes] pages per block)
    buffer = None if sparse.is_sparse(index) else torch.empty(min(chunk, queries.numel()), n, dtype=index.dtype)
    for start in range(0, queries.numel(), chunk):
        nodes = queries[start : start + chunk]
        block = sparse.dense_rows(q, start, start + chunk)
        s = torch.sparse.mm(index, block.t()).t() if buffer is None else _mm_into(buffer, block, index)
        s[torch.arange(nodes.numel()), nodes] = -math.inf
        top = s.topk(k, dim=-1).indices
        pair = nodes.unsqueeze(-1) * n + top
        pos = torch.searchsorted(keys, pair).clamp_max(keys.numel() - 1)
        hits = (keys[pos] == pair).sum(-1).double()
        rec.append(hits / counts[start : start + chunk].double())
        lab = known[top]
        agree = (y[top] == y[nodes].unsqueeze(-1)) & lab
        same.append(agree.float().sum(-1) / lab.float().sum(-1).clamp_min(1))
    return 100.0 * float(torch.cat(rec).mean()), 100.0 * float(torch.cat(same).mean())


def fit_retrieval(
    student,
    x: Tensor,
    y: Tensor,
    edge_index: Tensor,
    *,
    train_mask: Tensor,
    val_mask: Tensor,
    tau: float = 0.1,
    knn: int = 5,
    knn_weight: float = 1.0,
    label_weight: float = 0.0,
    batch_size: int = 2048,
    lr: float = 0.01,
    max_steps: int = 300,
    eval_every: int = 10,
    patience: int = 10,
    max_anchors: int = 20000,
    svd_rows: int = 4096,
    k: int = 10,
    seed: int = 0,
    features: str = "auto",
    max_queries: int = 4096,
) -> dict:
    """Train ``student.retrieval`` (see the module docstring) on the training graph (``x``, ``edge_index``);
    returns ``{"best_step", "val_recall", "val_precision", "mix", "mixes", "features", "views", "history"}``
    (``features``: the feature view kept; ``views``: each candidate view's own validation recall / precision, NaN
    when only one was given).

    The validation queries are the validation nodes with an edge. An evaluation scores them against every node; with
    more validation nodes than ``min(max_queries, max(MIN_QUERIES, MAX_SCORED // nodes))`` a seeded sample of that
    many (its own generator: the training draws are unchanged) is scored instead: every staged public graph is
    scored on all its validation nodes (Coauthor-CS: 3,668 of 18,333 nodes); on ``synthetic:100000`` (18k
    validation nodes) the ~40 full evaluations of a run had been half of one Cold Brew seed, and 671 are scored."""
    head: RetrievalHead = student.retrieval
    for name, value, ok in (
        ("tau", tau, tau > 0),
        ("knn", knn, knn >= 0),
        ("knn_weight", knn_weight, knn_weight >= 0),
        ("label_weight", label_weight, label_weight >= 0),
        ("batch_size", batch_size, batch_size >= 2),
        ("lr", lr, lr > 0),
        ("max_steps", max_steps, max_steps >= 1),
        ("eval_every", eval_every, eval_every >= 1),
        ("patience", patience, patience >= 1),
        ("max_queries", max_queries, max_queries >= 1),
    ):
        if not ok:
            raise ValueError(f"retrieval {name} out of range (got {value})")
    if features not in ("auto", *FEATURE_VIEWS):
        raise ValueError(f"unknown retrieval feature view {features!r}; choose from {['auto', *FEATURE_VIEWS]}")
    n, dev = x.size(0), x.device
    gen = torch.Generator().manual_seed(seed)
    xn = sparse.normalize_rows_as_dense(x.float())
    xm = sparse.model_input(xn)  # the head's input; its feature view is applied in head.project
    src, dst = edge_index
    keep = (src != dst) & ~val_mask[src] & ~val_mask[dst]
    edges = edge_index[:, keep]
    pairs = []
    if edges.size(1):
        pairs.append((edges, 1.0))
    # validation queries: validation nodes with an edge (kept out of the loss)
    val_nodes = val_mask.nonzero().view(-1)
    budget = min(max_queries, max(MIN_QUERIES, MAX_SCORED // max(n, 1)))
    if val_nodes.numel() > budget:
        pick = torch.randperm(val_nodes.numel(), generator=torch.Generator().manual_seed(seed + 1))[:budget]
        val_nodes = val_nodes[pick.sort().values.to(val_nodes.device)]
    queries, truth_keys, truth_counts = _truth(edge_index, val_nodes, n)
    known = train_mask | val_mask
    kk = min(k, n - 1)

    # the feature view: the one whose own cosine retrieves the validation queries' neighbours best (recall +
    # precision, ties: the earlier in FEATURE_VIEWS); its rows give the kNN positives and the SVD start
    candidates = FEATURE_VIEWS if features == "auto" else (features,)
    views, best_view = {}, None
    for view in candidates:
        head.set_view(view, x.float())
        xv = xn if view == "values" else sparse.normalize_rows_as_dense(head.features(sparse.model_input(x.float())))
        if len(candidates) > 1 and queries.numel():
            r, pr = _scores(sparse.take_rows(xv, queries), xv, queries, (truth_keys, truth_counts), y, known, kk)
        else:
            r, pr = math.nan, math.nan
        views[view] = {"val_recall": r, "val_precision": pr}
        if best_view is None or r + pr > views[best_view]["val_recall"] + views[best_view]["val_precision"]:
            best_view, xv_best = view, xv
        del xv
    head.set_view(best_view, x.float())
    xn = xv_best
    del xv_best
    if knn > 0 and knn_weight > 0 and n > knn:
        anchors = torch.randperm(n, generator=gen)[:max_anchors].sort().values if n > max_anchors else torch.arange(n)
        pairs.append((_feature_knn(xn, knn, anchors.to(dev)), knn_weight))
    if not pairs:
        raise ValueError("the retrieval head has nothing to learn from: no training edge and knn=0")

    labelled = (train_mask & ~val_mask).nonzero().view(-1)

    with torch.no_grad():
        head.weight.copy_(_svd_init(xn.cpu(), head.weight.size(0), svd_rows, gen).to(dev))
        student.eval()
        index_logits = student._mlp2(student._inputs(x))
        query_logits = (
            student._mlp2(student._inputs(sparse.take_rows(x, queries), self_index=queries))
            if queries.numel()
            else None
        )

    def evaluate(mix: float = 0.0) -> tuple[float, float]:
        if not queries.numel():
            return float("nan"), float("nan")
        with torch.no_grad():
            z = head.project(xm)
            index = head.combine(z, index_logits, mix)
            q = head.combine(z[queries], query_logits, mix)
            return _scores(q, index, queries, (truth_keys, truth_counts), y, known, kk)

    opt = torch.optim.Adam([head.weight], lr=lr)
    best = (-math.inf, 0, head.weight.detach().clone())
    history, bad = [], 0
    # every step and evaluation allocates the same [nodes, dim] projections: reuse their pages (in a job)
    with kept_heap():
        r0, p0 = evaluate()
        history.append({"step": 0, "val_recall": r0, "val_precision": p0})
        if queries.numel():
            best = (r0 + p0, 0, head.weight.detach().clone())
        perms = [torch.randperm(p.size(1), generator=gen) for p, _ in pairs]
        cursor = [0] * len(pairs)
        for step in range(1, max_steps + 1):
            head.train()
            loss = 0.0
            for i, (p, w) in enumerate(pairs):
                if cursor[i] >= p.size(1):
                    perms[i], cursor[i] = torch.randperm(p.size(1), generator=gen), 0
                b = perms[i][cursor[i] : cursor[i] + batch_size].to(dev)
                cursor[i] += batch_size
                if b.numel() < 2:
                    continue
                batch = p[:, b]
                nodes, inv = torch.unique(batch, return_inverse=True)
                z = head.project(sparse.take_rows(xm, nodes))
                loss = loss + w * _nce(z, inv, tau)
            if label_weight > 0 and labelled.numel() > 1:
                b = labelled[torch.randperm(labelled.numel(), generator=gen)[:batch_size].to(dev)]
                loss = loss + label_weight * _supcon(head.project(sparse.take_rows(xm, b)), y[b], tau)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % eval_every == 0 or step == max_steps:
                r, pr = evaluate()
                history.append({"step": step, "loss": float(loss.detach()), "val_recall": r, "val_precision": pr})
                if not queries.numel():
                    best = (0.0, step, head.weight.detach().clone())
                    continue
                if r + pr > best[0]:
                    best, bad = (r + pr, step, head.weight.detach().clone()), 0
                else:
                    bad += 1
                    if bad >= patience:
                        break
        with torch.no_grad():
            head.weight.copy_(best[2])
        scored = [(evaluate(m), m) for m in MIXES] if queries.numel() else [((math.nan, math.nan), 0.0)]
    (rec, prec), mix = max(scored, key=lambda s: (s[0][0] + s[0][1], -s[1])) if queries.numel() else scored[0]
    head.mix.fill_(mix)
    head.eval()
    return {
        "best_step": best[1],
        "val_recall": rec,
        "val_precision": prec,
        "mix": mix,
        "mixes": {str(m): {"val_recall": r, "val_precision": p} for (r, p), m in scored},
        "features": best_view,
        "views": views,
        "history": history,
    }
