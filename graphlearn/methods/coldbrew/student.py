"""Cold Brew student: an MLP that needs no edges at inference time."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphlearn import sparse
from graphlearn.distributed import Context
from graphlearn.models.mlp import PyGMLP as MLP  # PyG's MLP with graphlearn's one dropout
from graphlearn.training import FULL_BATCH_ROWS, EpochCallback, FitResult, fit, minibatches

from .glnn import kd_loss
from .neighbors import (
    ANN_BATCH_MIN_CANDIDATES,
    ANN_MAX_QUERIES,
    ANN_MIN_CANDIDATES,
    METRICS,
    AnnIndex,
    virtual_neighbors,
)
from .onerow import OneRow
from .retrieval import RetrievalHead, fit_retrieval

QUERIES = ("embedding", "features")

#: An extra loss term ``loss(out, mask) -> scalar Tensor`` on a model's outputs ``out`` for the rows ``mask`` (bool
#: ``[N]``, the training graph's nodes) selects; see :meth:`ColdBrewStudent.fit`.
ExtraLoss = Callable[[Tensor, Tensor], Tensor]


def check_features(x: Tensor, in_channels: int, dtype: torch.dtype, what: str = "features") -> None:
    """Raise a ``ValueError`` naming the offending value unless ``x`` is a
    finite ``[n, in_channels]`` tensor of ``dtype``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor (got {type(x).__name__})")
    if x.dim() != 2:
        raise ValueError(f"{what} must be 2-D [n, {in_channels}] (got shape {list(x.shape)})")
    if x.size(1) != in_channels:
        raise ValueError(f"{what} have width {x.size(1)} but the model was trained on width {in_channels}")
    if x.dtype != dtype:
        raise ValueError(f"{what} have dtype {x.dtype} but the model was trained on {dtype}; convert with .to({dtype})")
    if x.size(0) == 1 and x.device.type == "cpu" and not x.is_sparse and x.layout == torch.strided:
        finite = bool(np.isfinite(x.detach().numpy()).all())  # one new node: a NumPy call, not three tensor ops
    else:
        finite = sparse.all_finite(x)
    if not finite:
        if sparse.is_sparse(x):  # named from the stored values, without a dense copy
            x = x if x.layout == torch.sparse_csr else x.to_sparse_csr()
            values, row_of = x.values(), sparse.row_ids(x)
            bad = ~torch.isfinite(values)
            rows = row_of[bad].unique()
            first = values[bad & (row_of == rows[0])][:3].tolist()
        else:
            bad = ~torch.isfinite(x)
            rows = bad.any(dim=1).nonzero().view(-1)
            first = x[rows[0]][bad[rows[0]]][:3].tolist()
        raise ValueError(f"{what} contain NaN/inf in {rows.numel()} row(s), first row {int(rows[0])}: {first}")


class _Blocks(nn.Module):
    """An MLP applied to its input blocks (:func:`graphlearn.sparse.mlp_forward`) as a module of its own, so that
    ``DistributedDataParallel`` can wrap it (one forward per step through the wrapper)."""

    def __init__(self, mlp: nn.Module):
        super().__init__()
        self.mlp = mlp

    def forward(self, parts: list[Tensor]) -> Tensor:
        return sparse.mlp_forward(self.mlp, parts)


def _kl_sum(out: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """``kd_loss`` before its mean over rows and its ``T^2``: the sum over this rank's rows."""
    return F.kl_div(
        F.log_softmax(out / temperature, dim=-1),
        F.log_softmax(teacher / temperature, dim=-1),
        reduction="sum",
        log_target=True,
    )


def _fit_regressor(
    mlp: nn.Module,
    regress_mask: Tensor,
    *,
    x: Tensor,
    target: Tensor,
    monitor: Tensor,
    epochs: int,
    lr: float,
    weight_decay: float,
    patience: int | None,
    stage: str,
    on_epoch: EpochCallback | None,
    extra_loss: ExtraLoss | None = None,
    tcm: tuple | None = None,
    parallel: Context | None = None,
    batch_size: int = 0,
    full_batch_rows: int = FULL_BATCH_ROWS,
) -> FitResult:
    """MSE regression of ``target`` from ``x`` on ``regress_mask``; the epoch
    with the lowest MSE on ``monitor`` (else on ``regress_mask``) is kept.
    With ``extra_loss``, ``extra_loss(out, mask)`` is added to the loss (on
    ``regress_mask``) and to the selection criterion (on the monitored nodes).

    ``tcm = (weight, loss_fn, mask, labels)`` adds ``weight * loss_fn(mlp(x[mask]), labels)`` (the opt-in
    threshold-consistent margin regulariser, see :meth:`ColdBrewStudent.fit`); ``None`` leaves the loss as it was.

    With ``batch_size`` (:func:`graphlearn.training.minibatches`) and more than ``full_batch_rows`` regressed rows,
    every epoch is a pass of mini-batch steps over the regressed rows (and the TCM rows, cut into as many steps);
    ``extra_loss`` then sees each step's rows (``out`` in node order, ``mask`` the step's nodes)."""
    x_fit, t_fit = sparse.take_rows(x, regress_mask), target[regress_mask]
    x_mon, t_mon = (sparse.take_rows(x, monitor), target[monitor]) if bool(monitor.any()) else (x_fit, t_fit)
    key = "val_mse" if bool(monitor.any()) else "train_mse"
    mon_mask = monitor if bool(monitor.any()) else regress_mask
    if tcm is not None:
        tcm_weight, tcm_loss, tcm_mask, tcm_labels = tcm
        x_tcm = sparse.take_rows(x, tcm_mask)

    if parallel is not None:  # the squared errors of this rank's share of the rows, over all rows' count (DDP)
        net = parallel.wrap(_Blocks(mlp))
        share = parallel.shard(regress_mask.nonzero().view(-1))
        x_share, t_share = sparse.take_rows(x, share), target[share]
        scale = parallel.world_size / (int(regress_mask.sum()) * target.size(1))

        def sharded_loss() -> Tensor:
            return (net([x_share]) - t_share).pow(2).sum() * scale

        parallel.seed_rank(torch.initial_seed())

    def loss_fn() -> Tensor:
        if parallel is not None:
            return sharded_loss()
        if extra_loss is None and tcm is None:
            return F.mse_loss(mlp(x_fit), t_fit)
        out = mlp(x_fit)
        loss = F.mse_loss(out, t_fit)
        if extra_loss is not None:
            loss = loss + extra_loss(out, regress_mask)
        if tcm is not None:
            loss = loss + tcm_weight * tcm_loss(mlp(x_tcm), tcm_labels)
        return loss

    sizes = [int(regress_mask.sum())] + ([int(tcm_mask.sum())] if tcm is not None else [])
    batches = minibatches(sizes, batch_size, full_batch_rows) if parallel is None else None
    if batches is not None:
        regress_idx = regress_mask.nonzero().view(-1)

        def batch_loss(batch: tuple[Tensor, ...]) -> Tensor:
            b = batch[0].to(x.device).sort().values  # node order, as the full-batch rows
            out = mlp(sparse.take_rows(x_fit, b))
            loss = F.mse_loss(out, t_fit[b])
            if extra_loss is not None:
                mask = torch.zeros_like(regress_mask)
                mask[regress_idx[b]] = True
                loss = loss + extra_loss(out, mask)
            if tcm is not None and batch[1].numel() > 1:
                bt = batch[1].to(x.device).sort().values
                loss = loss + tcm_weight * tcm_loss(mlp(sparse.take_rows(x_tcm, bt)), tcm_labels[bt])
            return loss

    def score_fn() -> dict[str, float]:
        if extra_loss is None:
            mse = float(F.mse_loss(mlp(x_mon), t_mon))
            return {key: mse, "score": -mse}
        out = mlp(x_mon)
        mse, extra = float(F.mse_loss(out, t_mon)), float(extra_loss(out, mon_mask))
        return {key: mse, key.replace("mse", "extra"): extra, "score": -(mse + extra)}

    return fit(
        mlp,
        loss_fn if batches is None else batch_loss,
        score_fn,
        params=[{"params": mlp.parameters(), "weight_decay": weight_decay}],
        epochs=epochs,
        lr=lr,
        patience=patience,
        stage=stage,
        on_epoch=on_epoch,
        parallel=parallel,
        batches=batches,
    )


def _check_weights(*weights: float) -> tuple[float, ...]:
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0.0 <= float(w) <= 1.0:
            raise ValueError(f"a label-memory weight must be a number in [0, 1] (got {w!r})")
    return tuple(float(w) for w in weights)


def _tcm_loss(margin_plus: float, margin_minus: float):
    """pytorch-metric-learning's threshold-consistent margin loss (cosine), imported only when asked for."""
    from pytorch_metric_learning.losses import ThresholdConsistentMarginLoss  # noqa: PLC0415

    return ThresholdConsistentMarginLoss(margin_plus=float(margin_plus), margin_minus=float(margin_minus))


#: A search of at least this many queries is remembered for the same features (:meth:`ColdBrewStudent._neighbours`).
_MEMO_MIN_ROWS = 4096


class ColdBrewStudent(nn.Module):
    r"""Cold Brew student (`Zheng et al., ICLR 2022
    <https://openreview.net/forum?id=1ugNpm7W6E>`_, Section 4.2).

    * **MLP1** maps node features to the teacher embedding
      (:meth:`ColdBrewTeacher.embed`), trained with MSE on nodes that have a
      neighbourhood in the training graph.
    * **Virtual neighbours**: the ``k`` teacher embeddings (of nodes with a
      neighbourhood, the *candidates*) nearest to the MLP1 embedding,
      softmax-weighted with temperature (:func:`virtual_neighbors`).
      With ``query="features"`` (our extension, not in the paper) the ``k``
      candidates are instead those whose *features* are nearest to the node's
      features; their teacher embeddings are aggregated the same way. The
      candidates' features are then kept in the model (``[C, F]``).
    * **MLP2** classifies ``[features, virtual-neighbour aggregate, MLP1
      embedding]``, trained with cross-entropy on the training labels and
      optionally distillation from the teacher's soft labels.

    Embeddings are handled in a standardised space (per-dimension mean and
    std of the candidates), so the teacher's layers of different scales weigh
    alike in the MSE, the neighbour search and MLP2's input. MLP1 is frozen
    while MLP2 trains (as in the paper's code).

    A node that is itself a candidate never gets itself as a virtual
    neighbour (``self_index``); otherwise training nodes would see their own
    teacher embedding, which an unseen node never can.

    Args:
        in_channels (int): feature width.
        embed_channels (int): teacher embedding width.
        out_channels (int): number of classes.
        hidden_channels (int): width of the MLPs' hidden layers. (default: ``256``)
        num_layers (int): layers per MLP. (default: ``2``)
        dropout (float): dropout in the MLPs. (default: ``0.5``)
        k (int): virtual neighbours per node. (default: ``8``)
        temperature (float): softmax temperature of the neighbour weights.
            (default: ``1.0``)
        metric (str): neighbour score, ``"ip"``, ``"cos"`` or ``"l2"``.
            (default: ``"ip"``)
        query (str): space of the neighbour search, ``"embedding"`` (MLP1
            output against teacher embeddings, the paper) or ``"features"``
            (node features against the candidates' features).
            (default: ``"embedding"``)
        ann_min_candidates (int, optional): from this many candidates on, batches of fewer than
            :data:`~graphlearn.methods.coldbrew.neighbors.ANN_MAX_QUERIES` nodes (a served request) search an
            approximate FAISS HNSW index built once
            (:class:`~graphlearn.methods.coldbrew.neighbors.AnnIndex`), so a
            query's cost stops growing linearly with the graph; below it, and for larger batches (training,
            whole-graph inference: one blocked product costs less per query than HNSW's walk) below
            :data:`~graphlearn.methods.coldbrew.neighbors.ANN_BATCH_MIN_CANDIDATES` (200,000) candidates, the
            search is exact. ``None``: always exact.
            (default: :data:`~graphlearn.methods.coldbrew.neighbors.ANN_MIN_CANDIDATES`, 50,000)
        retrieval_dim (int): width of the opt-in retrieval head (:mod:`~graphlearn.methods.coldbrew.retrieval`,
            trained by :meth:`fit_retrieval` after MLP1 / MLP2; ``"retrieval"`` export space). Must exceed
            ``out_channels`` (the class block's width). (default: ``0``, no head: the student is exactly as
            without it)
        feature_head (float): weight ``w`` of an opt-in **feature head** (MLP3): an MLP on the features alone,
            distilled from the teacher's soft labels like GLNN (no label loss), trained after MLP2. The student's
            class probabilities become ``(1 - w) * softmax(MLP2) + w * softmax(MLP3)`` (``w = 1``: the feature head
            alone). Where the virtual-neighbour branch does not help nodes without edges, the cold-start validation
            set can pick the head (``graphlearn coldbrew --tune``). MLP1 and MLP2 are trained exactly as without
            it. (default: ``0``, off: no MLP3)
        feature_head_linked (float, optional): the feature head's weight for rows the student knows to have edges
            (see ``memory_weight_linked``); ``None``: ``feature_head``. (default: ``None``)
        feature_heads (int): how many feature heads (MLP3s, each from its own initial weights and dropout draws)
            the head is the ensemble of: ``softmax(MLP3)`` above is their probabilities' mean. (default: ``1``)
        memory_weight (float): weight ``a`` of the opt-in **label memory**, a retrieval branch over the candidates'
            class distributions (:meth:`set_memory`: the teacher's soft labels, the true label on training nodes):
            the same ``k`` virtual neighbours the aggregate uses, their distributions averaged with the same
            weights. The class probabilities of a node the student sees without edges become ``(1 - a) *
            p_student + a * p_memory``. (default: ``0``: off, the student exactly as without it)
        memory_weight_linked (float): the same weight for rows the student knows to have edges (a training-graph
            candidate given by ``self_index``, or a row with edges in ``edge_index``). (default: ``0``)
    """

    def __init__(
        self,
        in_channels: int,
        embed_channels: int,
        out_channels: int,
        hidden_channels: int = 256,
        num_layers: int = 2,
        dropout: float = 0.5,
        k: int = 8,
        temperature: float = 1.0,
        metric: str = "ip",
        query: str = "embedding",
        ann_min_candidates: int | None = ANN_MIN_CANDIDATES,
        retrieval_dim: int = 0,
        feature_head: float = 0.0,
        feature_head_linked: float | None = None,
        feature_heads: int = 1,
        memory_weight: float = 0.0,
        memory_weight_linked: float = 0.0,
    ):
        super().__init__()
        if ann_min_candidates is not None and ann_min_candidates < 1:
            raise ValueError(f"ann_min_candidates must be >= 1 or None (got {ann_min_candidates})")
        self.ann_min_candidates = ann_min_candidates
        if (
            isinstance(retrieval_dim, bool)
            or not isinstance(retrieval_dim, int)
            or (retrieval_dim != 0 and retrieval_dim <= out_channels)
        ):
            raise ValueError(
                f"retrieval_dim must be 0 (off) or an integer > out_channels={out_channels} (its class block); "
                f"got {retrieval_dim!r}"
            )
        if query not in QUERIES:
            raise ValueError(f"unknown query {query!r}; choose one of {list(QUERIES)}")
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose one of {list(METRICS)}")
        if k < 1:
            raise ValueError(f"k must be >= 1 (got {k})")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0 (got {temperature})")
        self.in_channels, self.embed_channels = in_channels, embed_channels
        self.out_channels, self.hidden_channels = out_channels, hidden_channels
        self.num_layers, self.dropout = num_layers, dropout
        self.k, self.temperature, self.metric, self.query = k, temperature, metric, query

        hidden = [hidden_channels] * (num_layers - 1)
        self.mlp1 = MLP([in_channels, *hidden, embed_channels], dropout=dropout, norm=None)
        self.mlp2 = MLP([in_channels + 2 * embed_channels, *hidden, out_channels], dropout=dropout, norm=None)
        # Set by set_teacher(); sized on load by _load_from_state_dict.
        self.register_buffer("teacher_embeddings", torch.empty(0, embed_channels))
        self.register_buffer("candidate_index", torch.empty(0, dtype=torch.long))
        self.register_buffer("candidate_features", torch.empty(0, in_channels))
        self.register_buffer("emb_mean", torch.zeros(embed_channels))
        self.register_buffer("emb_std", torch.ones(embed_channels))
        self._cache = None  # see _search_space
        self.reset_parameters()
        self.retrieval_dim = retrieval_dim
        if isinstance(feature_head, bool) or not 0.0 <= float(feature_head) <= 1.0:
            raise ValueError(f"feature_head must be a weight in [0, 1] (got {feature_head!r})")
        self.feature_head = float(feature_head)
        self.feature_head_linked = self.feature_head if feature_head_linked is None else float(feature_head_linked)
        _check_weights(self.feature_head_linked)
        if isinstance(feature_heads, bool) or not isinstance(feature_heads, int) or feature_heads < 1:
            raise ValueError(f"feature_heads must be an integer >= 1 (got {feature_heads!r})")
        self.feature_heads = feature_heads
        self.mlp3, self.mlp3_more = None, None
        if self.feature_head > 0 or self.feature_head_linked > 0:
            with torch.random.fork_rng(devices=[]):  # its initial weights draw nothing from the caller's stream
                self.mlp3 = MLP([in_channels, *hidden, out_channels], dropout=dropout, norm=None)
                if feature_heads > 1:  # a module only then: one head's files keep their keys
                    self.mlp3_more = torch.nn.ModuleList(
                        MLP([in_channels, *hidden, out_channels], dropout=dropout, norm=None)
                        for _ in range(feature_heads - 1)
                    )
        # Built after reset_parameters and without random draws: MLP1 / MLP2 start exactly as without a head.
        self.retrieval = RetrievalHead(in_channels, retrieval_dim - out_channels) if retrieval_dim else None
        self.memory_weight, self.memory_weight_linked = _check_weights(memory_weight, memory_weight_linked)
        # the candidates' class distributions (set_memory); a buffer only when the memory is on, so the files of
        # students without it keep their keys
        if self.has_memory:
            self.register_buffer("candidate_labels", torch.empty(0, out_channels))

    def set_feature_head(self, weight: float, weight_linked: float) -> None:
        """The feature head's blend weights for rows without / with edges (a trained head is needed for any weight
        above 0); both 0 removes the head, so the student is saved and answers exactly as one without it."""
        weight, weight_linked = _check_weights(weight, weight_linked)
        if self.mlp3 is None and (weight > 0 or weight_linked > 0):
            raise ValueError("this student has no feature head (built with feature_head=0): its weights must stay 0")
        self.feature_head, self.feature_head_linked = weight, weight_linked
        if weight == 0 and weight_linked == 0:
            self.mlp3, self.mlp3_more = None, None
        self.__dict__.pop("_param_list", None)
        self.__dict__.pop("_one_row_cache", None)  # its blend weights are this student's

    @property
    def has_memory(self) -> bool:
        """The label memory takes part in the predictions (one of its weights is above 0)."""
        return self.memory_weight > 0 or self.memory_weight_linked > 0

    def set_memory(self, labels: Tensor, weight: float, weight_linked: float) -> None:
        """Turn the label memory on (or off, with both weights 0): ``labels`` are the ``[N, C]`` class distributions
        of the training graph's nodes (rows of non-negative numbers summing to 1; only the candidates' rows are
        kept), ``weight`` / ``weight_linked`` the blend weights of rows without / with edges (see the class)."""
        weight, weight_linked = _check_weights(weight, weight_linked)
        self._require_teacher()
        n = self.teacher_embeddings.size(0)
        if labels.shape != (n, self.out_channels):
            raise ValueError(f"labels must have shape [{n}, {self.out_channels}] (got {list(labels.shape)})")
        rows = labels[self.candidate_index].detach().to(self.teacher_embeddings.dtype)
        if not bool(torch.isfinite(rows).all()) or bool((rows < 0).any()):
            raise ValueError("labels must be finite, non-negative class distributions")
        if rows.numel() and float((rows.sum(-1) - 1).abs().max()) > 1e-3:
            raise ValueError(
                f"every row of labels must sum to 1 (a candidate's sums to {float(rows.sum(-1)[0]):.4g} or another "
                "value off by more than 1e-3)"
            )
        self.memory_weight, self.memory_weight_linked = weight, weight_linked
        self.__dict__.pop("_one_row_cache", None)  # its memory is this student's
        if not self.has_memory:
            self.__dict__["_buffers"].pop("candidate_labels", None)
            return
        if "candidate_labels" in self._buffers:
            self.candidate_labels = rows.clone()
        else:
            self.register_buffer("candidate_labels", rows.clone())

    def clear_memory(self) -> None:
        """Turn the label memory off (the student then answers exactly as one trained without it)."""
        self.memory_weight = self.memory_weight_linked = 0.0
        self.__dict__.pop("_one_row_cache", None)
        self.__dict__["_buffers"].pop("candidate_labels", None)

    @property
    def hparams(self) -> dict:
        return {
            "in_channels": self.in_channels,
            "embed_channels": self.embed_channels,
            "out_channels": self.out_channels,
            "hidden_channels": self.hidden_channels,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "k": self.k,
            "temperature": self.temperature,
            "metric": self.metric,
            "query": self.query,
            "ann_min_candidates": self.ann_min_candidates,
            # only when on: files of students without a head stay byte-identical
            **({"retrieval_dim": self.retrieval_dim} if self.retrieval_dim else {}),
            **({"feature_head": self.feature_head} if self.feature_head else {}),
            **({"feature_heads": self.feature_heads} if self.mlp3_more is not None else {}),
            **(
                {"feature_head_linked": self.feature_head_linked}
                if self.feature_head_linked != self.feature_head
                else {}
            ),
            **(
                {"memory_weight": self.memory_weight, "memory_weight_linked": self.memory_weight_linked}
                if self.has_memory
                else {}
            ),
        }

    def reset_parameters(self) -> None:
        self.mlp1.reset_parameters()
        self.mlp2.reset_parameters()
        for head in self.heads():
            head.reset_parameters()

    def heads(self) -> list[MLP]:
        """The feature heads (MLP3s), none without a feature head."""
        if getattr(self, "mlp3", None) is None:
            return []
        return [self.mlp3, *(self.mlp3_more or ())]

    def _head_probs(self, xm) -> Tensor:
        """The feature head's class probabilities: the mean of its heads' softmax (``xm``: the model input)."""
        heads = self.heads()
        probs = torch.softmax(sparse.mlp_forward(heads[0], [xm]), dim=-1)
        for head in heads[1:]:
            probs = probs + torch.softmax(sparse.mlp_forward(head, [xm]), dim=-1)
        return probs / len(heads) if len(heads) > 1 else probs

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        self._drop_search_space()
        # The teacher buffers' first dimension depends on the training graph.
        for name in ("teacher_embeddings", "candidate_index", "candidate_features", "candidate_labels"):
            if prefix + name in state_dict and name in self._buffers:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._check_teacher_buffers()

    def _check_teacher_buffers(self) -> None:
        """The teacher-side buffers agree with each other and with the model's widths (a tampered or mismatched
        file is refused by name instead of loading and answering wrongly)."""
        emb, index, feats = self.teacher_embeddings, self.candidate_index, self.candidate_features
        if emb.dim() != 2 or emb.size(1) != self.embed_channels:
            raise ValueError(
                f"teacher_embeddings has shape {list(emb.shape)}; the student embeds into width {self.embed_channels}"
            )
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= emb.size(0)):
            raise ValueError(
                f"candidate_index has node ids in [{int(index.min())}, {int(index.max())}] but teacher_embeddings "
                f"has {emb.size(0)} rows"
            )
        if self.query == "features" and index.numel() and tuple(feats.shape) != (index.numel(), self.in_channels):
            raise ValueError(
                f"candidate_features has shape {list(feats.shape)}; expected [{index.numel()}, {self.in_channels}] "
                "(one row of input features per candidate)"
            )
        labels = self._buffers.get("candidate_labels")
        if labels is not None and index.numel() and tuple(labels.shape) != (index.numel(), self.out_channels):
            raise ValueError(
                f"candidate_labels has shape {list(labels.shape)}; expected [{index.numel()}, {self.out_channels}] "
                "(one class distribution per candidate)"
            )

    # ------------------------------------------------------------ teacher side
    def set_teacher(self, teacher_embeddings: Tensor, candidate_mask: Tensor, features: Tensor | None = None) -> None:
        """Store the teacher embeddings of the training graph's ``N`` nodes and
        which of them are candidates (nodes with a neighbourhood); with
        ``query="features"`` also the ``[N, F]`` features (only the
        candidates' rows are kept)."""
        if teacher_embeddings.dim() != 2 or teacher_embeddings.size(1) != self.embed_channels:
            raise ValueError(
                f"teacher_embeddings must have shape [N, {self.embed_channels}] (got {list(teacher_embeddings.shape)})"
            )
        if candidate_mask.shape != (teacher_embeddings.size(0),):
            raise ValueError(
                f"candidate_mask must have shape [{teacher_embeddings.size(0)}] (got {list(candidate_mask.shape)})"
            )
        index = candidate_mask.nonzero().view(-1)
        if index.numel() == 0:
            raise ValueError("the candidate set is empty: no node has a neighbourhood (candidate_mask is all False)")
        if self.query == "features":
            if features is None or features.shape != (candidate_mask.numel(), self.in_channels):
                raise ValueError(
                    f"query='features' needs the [{candidate_mask.numel()}, "
                    f"{self.in_channels}] features of the training graph "
                    f"(got {None if features is None else list(features.shape)})"
                )
            # CSR when the features are a wide bag of words too large to copy densely (sparse.compact's rule);
            # the candidates' rows are copied either way
            feats = sparse.compact(features.detach())
            self.candidate_features = (
                sparse.take_rows(feats, index) if sparse.is_sparse(feats) else features[index].detach().clone()
            )
        cand = teacher_embeddings[index]
        self._drop_search_space()
        self.teacher_embeddings = teacher_embeddings.detach().clone()
        self.candidate_index = index
        self.emb_mean = cand.mean(0)
        self.emb_std = (
            cand.std(0, unbiased=False).clamp_min(1e-6) if index.numel() > 1 else torch.ones_like(self.emb_mean)
        )

    def _standardise(self, emb: Tensor) -> Tensor:
        return (emb - self.emb_mean) / self.emb_std

    def _require_teacher(self) -> None:
        if self.candidate_index.numel() == 0:
            raise RuntimeError("the student has no teacher embeddings: call fit() or set_teacher() first")

    def _search_space(self, queries: int = 1):
        """``(standardised candidate embeddings, search keys, search metric, ANN index or None)`` for a batch of
        ``queries`` nodes, cached until the teacher side changes (``set_teacher``, loading, ``.to``):
        recomputing them per call dominated one-node inference. For ``cos`` the
        keys are stored L2-normalised and searched by inner product. The approximate index answers only batches
        of fewer than :data:`~.neighbors.ANN_MAX_QUERIES` nodes over at least ``ann_min_candidates`` dense keys
        (built on the first such batch), and every batch from :data:`~.neighbors.ANN_BATCH_MIN_CANDIDATES` keys on;
        other batches are searched exactly."""
        if self._cache is None:
            cand = self._standardise(self.teacher_embeddings[self.candidate_index])
            keys = self.candidate_features if self.query == "features" else cand
            metric = self.metric
            if sparse.is_sparse(keys):  # CSR candidate features (set_teacher): exact search, never densified
                # normalised as the dense keys are (F.normalize per dense block): the same neighbours, ties included
                keys = sparse.normalize_rows_as_dense(keys) if metric == "cos" else keys
                self._cache = (cand, keys, "ip" if metric == "cos" else metric, None)
                return self._cache
            if metric == "cos":
                keys, metric = F.normalize(keys, dim=-1), "ip"
            # Stored transposed ([d, c] contiguous) and handed out as its [c, d] view: a CSR query's product
            # reads whole rows of the transposed keys (one new Cora node: 1.13 -> 0.85 ms per call with the CSR
            # decision by width, benchmarks/results/speed.md), and dense batch products give the same numbers
            # with either layout.
            keys = keys.t().contiguous().t()
            self._cache = (cand, keys, metric, None)
        cand, keys, metric, ann = self._cache
        large = self.ann_min_candidates is not None and keys.size(0) >= self.ann_min_candidates
        small = queries < ANN_MAX_QUERIES or keys.size(0) >= ANN_BATCH_MIN_CANDIDATES
        if not large or sparse.is_sparse(keys) or not small:
            return (cand, keys, metric, None) if ann is not None else self._cache
        if ann is None:  # built on the first small batch: a job that only searches in large batches never pays for it
            self._cache = (cand, keys, metric, AnnIndex(keys, metric))
        return self._cache

    def _drop_search_space(self) -> None:
        """Forget the search space (:meth:`_search_space`) and the search remembered on it (:meth:`_neighbours`):
        the teacher side changed (``set_teacher``, loading, ``.to``)."""
        self._cache = None
        self.__dict__.pop("_search_memo", None)

    def _apply(self, fn, *args, **kwargs):
        self._drop_search_space()
        self.__dict__.pop("_param_list", None)
        return super()._apply(fn, *args, **kwargs)

    def _aggregate(self, x: Tensor, z: Tensor, self_index: Tensor | None = None) -> Tensor:
        """Virtual-neighbour aggregate; ``x`` is the model input (:func:`graphlearn.sparse.model_input`)."""
        return self._neighbours(x, z, self_index).aggregate

    def _neighbours(self, x: Tensor, z: Tensor, self_index: Tensor | None = None):
        """The virtual-neighbour search (:class:`~.neighbors.VirtualNeighbors`: rows, weights, aggregate).

        With ``query="features"`` the result depends on the features and the search space only, not on MLP1: the
        last search of a large batch is kept and answered again for the same tensor ``x`` (the same object, not
        modified since) with equal ``self_index`` and the same search space. A Cold Brew run searches every node of
        the training graph several times (MLP2's inputs, its predictions, the blend, the ablation rows); at 100k
        nodes each exact search was about 20 s."""
        cand, keys, metric, ann = self._search_space(x.size(0))
        cached = self.__dict__.get("_search_memo")
        # an inference tensor (made under torch.inference_mode) has no version counter: its search is not remembered
        reuse = self.query == "features" and x.size(0) >= _MEMO_MIN_ROWS and not x.is_inference()
        if reuse and cached is not None:
            c_x, c_version, c_self, c_space, c_found = cached
            if (
                c_x is x
                and c_version == x._version
                and all(a is b for a, b in zip(c_space[:4], (cand, keys, metric, ann)))
                and c_space[4:] == (self.k, self.temperature, self.metric)
                and (c_self is None) == (self_index is None)
                and (self_index is None or torch.equal(c_self, self_index))
            ):
                return c_found
        found = self._search(x, z, self_index, cand, keys, metric, ann)
        if reuse:
            memo = None if self_index is None else self_index.clone()
            space = (cand, keys, metric, ann, self.k, self.temperature, self.metric)
            self.__dict__["_search_memo"] = (x, x._version, memo, space, found)
        return found

    def _search(self, x, z, self_index, cand, keys, metric, ann):
        """One search of :meth:`_neighbours` (its checks, the self-exclusion, the query), never remembered."""
        exclude = None
        if self_index is not None:
            n_graph = self.teacher_embeddings.size(0)
            if self_index.shape != (x.size(0),) or (
                self_index.numel() and (int(self_index.max()) >= n_graph or int(self_index.min()) < -1)
            ):
                raise ValueError(
                    f"self_index must be int64 [{x.size(0)}] with values in "
                    f"[-1, {n_graph - 1}] (got shape {list(self_index.shape)})"
                )
            # training-graph node id -> candidate row (or -1)
            pos = torch.full((self.teacher_embeddings.size(0),), -1, dtype=torch.long, device=z.device)
            pos[self.candidate_index] = torch.arange(self.candidate_index.numel(), device=z.device)
            exclude = torch.where(self_index >= 0, pos[self_index.clamp_min(0)], torch.full_like(self_index, -1))
        # "features": neighbours by feature similarity, their teacher embeddings averaged
        # (``x`` arrives as sparse.model_input made it: bag-of-words features are searched as a CSR matrix,
        # exact, nnz x candidates).
        query = x if self.query == "features" else z
        if self.metric == "cos":
            query = sparse.normalize_rows(query)
        return virtual_neighbors(
            query, keys, self.k, temperature=self.temperature, metric=metric, exclude=exclude, values=cand, ann=ann
        )

    # --------------------------------------------------------------- inference
    def _one_row_versions(self) -> tuple:
        """Every parameter's version counter (training and ``load_state_dict`` update parameters in place); with the
        search space (rebuilt when the teacher side changes) it is what a :class:`~.onerow.OneRow` depends on."""
        params = self.__dict__.get("_param_list")
        if params is None:  # walking the modules per call was a sixth of one node's inference
            params = self.__dict__["_param_list"] = list(self.parameters())
        return tuple(p._version for p in params)

    def _one_row(self) -> OneRow | None:
        """The NumPy forward pass for one new node (:mod:`~graphlearn.methods.coldbrew.onerow`), rebuilt when what it
        depends on changed; ``None`` without a teacher or when it does not cover this student."""
        fast = self.__dict__.get("_one_row_cache")
        if fast is None or fast.space is not self._cache or fast.versions != self._one_row_versions():
            if self.candidate_index.numel() == 0:
                return None
            fast = self.__dict__["_one_row_cache"] = OneRow(self)
        return fast if fast.eligible else None

    def _one_row_logits(self, x) -> Tensor | None:
        """Logits ``[1, C]`` of one new node by :meth:`_one_row`, or ``None`` (the torch path then answers, and
        raises the clear error for a bad input)."""
        if not isinstance(x, Tensor) or x.dim() != 2 or x.size(0) != 1 or x.layout != torch.strided:
            return None
        fast = self._one_row() if x.device.type == "cpu" and x.dtype == torch.float32 else None
        if fast is None or x.size(1) != fast.d:
            return None
        row = x.detach().numpy()[0]
        if not np.isfinite(row).all():
            return None
        return torch.from_numpy(fast.forward(row)[1][None])

    def _eval(self) -> None:
        """``self.eval()`` unless already in eval mode: walking the modules is a tenth of one new node's inference."""
        if self.training or any(m.training for m in self.children()):
            self.eval()

    def _check_x(self, x: Tensor) -> None:
        check_features(x, self.in_channels, self.mlp1.lins[0].weight.dtype)

    @torch.no_grad()
    def embed(self, features: Tensor) -> Tensor:
        """MLP1's estimate of the teacher embedding ``[n, embed_channels]`` of
        nodes given by their features alone."""
        self._check_x(features)
        self._require_teacher()
        self._eval()
        return self.mlp1(features) * self.emb_std + self.emb_mean

    def _inputs(
        self,
        x: Tensor,
        self_index: Tensor | None = None,
        edge_index: Tensor | None = None,
        neighbor_mix: float = 0.5,
        found: dict | None = None,
    ) -> list[Tensor]:
        """MLP2's input as its blocks ``[features, aggregate, MLP1 embedding]`` (see
        :func:`graphlearn.sparse.mlp_forward`); ``found["neighbours"]`` receives the search's result."""
        xm = sparse.model_input(x)
        # CSR at inference: cached W^T (sparse.linear); large batches by blocks of rows (sparse.row_blocks)
        z = sparse.row_blocks(lambda p: sparse.mlp_forward(self.mlp1, p), [xm])
        vn = self._neighbours(xm, z, self_index)  # xm: converted once, not again for the search
        agg = vn.aggregate
        if found is not None:
            found["neighbours"] = vn
        if edge_index is not None and edge_index.numel() > 0:
            agg = self._mix_real(agg, edge_index, neighbor_mix)
        return [xm, agg, z]

    def _mlp2(self, parts: list[Tensor]) -> Tensor:
        return sparse.row_blocks(lambda p: sparse.mlp_forward(self.mlp2, p), parts)

    def _mix_real(self, agg: Tensor, edge_index: Tensor, mix: float) -> Tensor:
        n, num_nodes = agg.size(0), self.teacher_embeddings.size(0)
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"edge_index must have shape [2, E] (got {list(edge_index.shape)})")
        src, dst = edge_index
        if int(src.min()) < 0 or int(src.max()) >= n:
            raise ValueError(
                f"edge_index[0] must index the {n} new nodes (rows of "
                f"features); got values in [{int(src.min())}, {int(src.max())}]"
            )
        if int(dst.min()) < 0 or int(dst.max()) >= num_nodes:
            raise ValueError(
                f"edge_index[1] must index the {num_nodes} training-graph "
                f"nodes; got values in [{int(dst.min())}, {int(dst.max())}]"
            )
        if not 0.0 <= mix <= 1.0:
            raise ValueError(f"neighbor_mix must be in [0, 1] (got {mix})")
        real = self._standardise(self.teacher_embeddings[dst])
        total = torch.zeros_like(agg).index_add_(0, src, real)
        count = torch.zeros(n, device=agg.device).index_add_(0, src, torch.ones_like(src, dtype=agg.dtype))
        has = count > 0
        mean = total[has] / count[has].unsqueeze(-1)
        agg = agg.clone()
        agg[has] = (1 - mix) * agg[has] + mix * mean
        return agg

    def logits(
        self,
        features: Tensor,
        edge_index: Tensor | None = None,
        neighbor_mix: float = 0.5,
        self_index: Tensor | None = None,
    ) -> Tensor:
        """Class logits ``[n, out_channels]`` for nodes given by their features.

        No retraining and no edges are needed. When some new nodes do have
        edges to training-graph nodes, pass them as ``edge_index`` (``[2, E]``,
        row 0 = row of ``features``, row 1 = training-graph node id): for those
        nodes the aggregate becomes ``(1 - neighbor_mix) * virtual +
        neighbor_mix * mean(teacher embeddings of the real neighbours)``.
        ``self_index`` (int64 ``[n]``, ``-1`` for new nodes) gives the
        training-graph id of rows that are training-graph nodes, so that a
        node is never its own virtual neighbour.

        One new node (a single float32 row, no edges) is answered by the NumPy pass of
        :mod:`~graphlearn.methods.coldbrew.onerow` (same arithmetic, about 5x less time per call on Cora).
        """
        if edge_index is None and self_index is None and not self.training:
            out = self._one_row_logits(features)
            if out is not None:
                return out
        return self._torch_logits(features, edge_index, neighbor_mix, self_index)

    @torch.no_grad()
    def _torch_logits(self, features, edge_index, neighbor_mix, self_index) -> Tensor:
        return self._torch_outputs(features, edge_index, neighbor_mix, self_index)[2]

    def _torch_outputs(self, features, edge_index, neighbor_mix, self_index) -> tuple[Tensor, Tensor, Tensor]:
        """``(MLP1 output, MLP2 logits, the student's logits)`` by the torch path."""
        self._check_x(features)
        self._require_teacher()
        self._eval()
        found: dict = {}
        parts = self._inputs(features, self_index, edge_index, neighbor_mix, found)
        raw = self._mlp2(parts)
        linked = None
        if self.has_memory or self.feature_head != self.feature_head_linked:
            linked = self._linked(features.size(0), self_index, edge_index)
        out = self._blend(raw, parts[0], linked)
        if self.has_memory:
            out = self._memory_blend(out, self._memory_probs(found["neighbours"]), linked)
        return parts[2], raw, out

    @torch.no_grad()
    def _new_node_outputs(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(MLP1 output, MLP2 logits, the student's logits)`` of new nodes with no edges, in one pass (the endpoint
        reads all three: query vectors, the retrieval space's input, the classes)."""
        self._check_x(x)
        self._require_teacher()
        fast = self._one_row() if x.size(0) == 1 and x.dtype == torch.float32 and x.device.type == "cpu" else None
        if fast is not None:  # one new node: the NumPy pass (methods/coldbrew/onerow)
            self._eval()
            return fast(x)
        return self._torch_outputs(x, None, 0.5, None)

    def _linked(self, n: int, self_index: Tensor | None, edge_index: Tensor | None) -> Tensor:
        """bool ``[n]``: rows the student knows to have edges (a candidate by ``self_index``, or edges given)."""
        linked = torch.zeros(n, dtype=torch.bool, device=self.candidate_index.device)
        if self_index is not None:
            linked |= torch.isin(self_index, self.candidate_index)
        if edge_index is not None and edge_index.numel() > 0:
            linked[edge_index[0]] = True
        return linked

    def _memory_probs(self, vn) -> Tensor:
        labels = self.candidate_labels
        return torch.cat(
            [
                torch.bmm(
                    vn.weight[i : i + 4096].unsqueeze(1).to(labels.dtype), labels[vn.index[i : i + 4096]]
                ).squeeze(1)
                for i in range(0, max(vn.index.size(0), 1), 4096)
            ]
        )

    def _memory_blend(self, logits: Tensor, memory: Tensor, linked: Tensor) -> Tensor:
        w = torch.where(linked, self.memory_weight_linked, self.memory_weight).to(logits.dtype).unsqueeze(-1)
        probs = (1 - w) * torch.softmax(logits, dim=-1) + w * memory
        return probs.clamp_min(1e-30).log()

    @torch.no_grad()
    def memory_probs(self, features: Tensor, self_index: Tensor | None = None) -> Tensor:
        """The label memory's class distributions ``[n, C]`` for nodes given by their features (the ``k`` virtual
        neighbours' distributions of :meth:`set_memory`, averaged with the search's weights), whatever its blend
        weights; ``self_index`` as in :meth:`logits`. Used to choose the weights on validation nodes."""
        self._check_x(features)
        self._require_teacher()
        if "candidate_labels" not in self._buffers:
            raise RuntimeError("the student has no label memory: call set_memory() first")
        self._eval()
        found: dict = {}
        self._inputs(features, self_index, found=found)
        return self._memory_probs(found["neighbours"])

    def predict(
        self,
        features: Tensor,
        edge_index: Tensor | None = None,
        neighbor_mix: float = 0.5,
        self_index: Tensor | None = None,
    ) -> Tensor:
        """Predicted class (int64 ``[n]``); arguments as in :meth:`logits`."""
        return self.logits(features, edge_index, neighbor_mix, self_index).argmax(-1)

    forward = logits

    def serving(self) -> nn.Module:
        """This student as a :class:`ColdBrewServing` module: ``forward(x) ->
        logits`` in plain tensor ops (exact ``torch.topk`` search, no input
        checks, no FAISS), so that ``torch.export`` and MLflow's ``pt2`` format
        can save it without pickling Python code."""
        self._require_teacher()
        if sparse.is_sparse(self.candidate_features):
            raise ValueError(
                "this student keeps its candidates' features sparse (a wide bag of words), which torch.export "
                "cannot save; serve it with `graphlearn export` / ColdStartEndpoint instead"
            )
        return ColdBrewServing(self).eval()

    # ----------------------------------------------------------------- training
    def fit(
        self,
        x: Tensor,
        y: Tensor,
        teacher_embeddings: Tensor,
        *,
        train_mask: Tensor,
        val_mask: Tensor,
        candidate_mask: Tensor,
        regress_mask: Tensor | None = None,
        teacher_logits: Tensor | None = None,
        kd_mask: Tensor | None = None,
        kd_weight: float = 0.0,
        kd_temperature: float = 1.0,
        mlp1_folds: int = 0,
        mlp1_extra_loss: ExtraLoss | None = None,
        mlp2_extra_loss: ExtraLoss | None = None,
        mlp2_val_score: Callable[[Tensor, Tensor], float] | None = None,
        tcm_weight: float = 0.0,
        tcm_margins: tuple[float, float] = (0.9, 0.5),
        epochs: int = 500,
        lr: float = 0.01,
        weight_decay: float = 5e-4,
        patience: int | None = 100,
        stage: str = "ColdBrew",
        on_epoch: EpochCallback | None = None,
        parallel: Context | None = None,
        batch_size: int = 0,
        full_batch_rows: int = FULL_BATCH_ROWS,
    ) -> dict[str, dict]:
        """Train MLP1, then MLP2, on the ``N`` nodes of the training graph.

        Args:
            x (Tensor): features ``[N, in_channels]``.
            y (Tensor): labels ``[N]`` (read on ``train_mask`` / ``val_mask``).
            teacher_embeddings (Tensor): ``teacher.embed(x, edge_index)``.
            train_mask, val_mask (Tensor): bool ``[N]``; MLP2 trains on the
                first and keeps its best epoch on the second.
            candidate_mask (Tensor): bool ``[N]``, nodes with a neighbourhood
                (degree > 0 in the training graph): the virtual-neighbour
                candidates.
            regress_mask (Tensor, optional): nodes MLP1 regresses; default
                ``candidate_mask & ~val_mask`` (MLP1 keeps its best epoch by MSE
                on ``candidate_mask & val_mask``).
            teacher_logits (Tensor, optional): teacher logits ``[N, C]`` for
                distillation, weighted by ``kd_weight`` at temperature
                ``kd_temperature``.
            kd_mask (Tensor, optional): nodes distilled; default
                ``candidate_mask & ~val_mask``.
            mlp1_folds (int): with ``>= 2``, MLP2's inputs for the nodes MLP1
                regressed come from ``mlp1_folds`` extra MLP1s each trained
                without that fold (cross-fitting). (default: ``0``, off)
            mlp1_extra_loss (callable, optional): ``loss(z, mask)``, added to
                MLP1's MSE: ``z`` is MLP1's (standardised) output on the nodes
                of ``mask``, ``regress_mask`` while training (a fold's mask when
                cross-fitting) and the monitored nodes when selecting the epoch,
                which then minimises MSE + extra loss. Used by
                :func:`~graphlearn.methods.coldbrew.train_update` (the BCT
                influence loss). (default: ``None``, off)
            mlp2_extra_loss (callable, optional): ``loss(logits, mask)``, added
                to MLP2's loss: ``logits`` are MLP2's outputs on the nodes of
                ``kd_mask`` (its default when ``None``, with or without
                ``kd_weight``). Selection stays on validation accuracy. Used by
                :func:`~graphlearn.methods.coldbrew.train_update` (PCT focal
                distillation). (default: ``None``, off)
            mlp2_val_score (callable, optional): ``score(logits, val_mask)``
                on MLP2's validation logits, higher is better: selects MLP2's
                epoch instead of validation accuracy. (default: ``None``)
            tcm_weight (float): with ``> 0``, MLP1's loss adds ``tcm_weight`` times the threshold-consistent
                margin loss (TCM, Zhang et al., ICLR 2024; ``pytorch_metric_learning.losses.
                ThresholdConsistentMarginLoss``) of MLP1's outputs (cosine) on the labelled ``train_mask`` nodes:
                positive pairs with cosine below ``tcm_margins[0]`` and negative pairs above ``tcm_margins[1]``
                are penalised. (default: ``0``, off: the loss is plain MSE, computed exactly as without it)
            epochs, lr, weight_decay, patience: Adam settings for both MLPs.
            stage (str): prefix of the ``on_epoch`` stage names
                (``"<stage>/mlp1"``, ``"<stage>/mlp2"``).
            on_epoch: ``on_epoch(stage, epoch, metrics)``.
            parallel (distributed.Context, optional): train data-parallel over the ranks of a ``torch.distributed``
                job (:mod:`graphlearn.distributed`): MLP1, MLP2 and the feature head each sum their loss over the
                rank's share of their rows, divided by the rows' total count and multiplied by the world size,
                through ``DistributedDataParallel`` (the averaged gradient is the one-process gradient), and every
                rank searches the virtual neighbours of its share of the nodes (gathered). Selection is replicated,
                rank 0's decision. Cross-fitting, the extra losses and TCM are refused with it. (default: ``None``:
                one process, bit for bit as without it)
            batch_size, full_batch_rows: mini-batch training of MLP1, MLP2 and the feature head, each on its own
                rows: with ``batch_size > 0``, a model whose loss reads more than ``full_batch_rows`` rows trains
                in passes of steps of about ``batch_size`` rows (:func:`graphlearn.training.minibatches`; MLP2's
                labelled and distilled rows cut into the same number of steps), each step's loss the mean of its
                rows. One process only (under ``parallel`` full batch). (default: ``0``: full batch)

        Returns:
            ``{"mlp1": FitResult, "mlp1_folds": [FitResult per fold] (empty without
            cross-fitting), "mlp2": FitResult}`` (:class:`graphlearn.training.FitResult`).
        """
        self._check_x(x)
        n = x.size(0)
        for name, m in (("train_mask", train_mask), ("val_mask", val_mask), ("candidate_mask", candidate_mask)):
            if m.shape != (n,) or m.dtype != torch.bool:
                raise ValueError(f"{name} must be bool [{n}] (got {m.dtype} {list(m.shape)})")
        if teacher_embeddings.size(0) != n:
            raise ValueError(f"teacher_embeddings has {teacher_embeddings.size(0)} rows, x has {n}")
        if int(train_mask.sum()) == 0:
            raise ValueError("train_mask selects no node")
        if kd_weight > 0 and teacher_logits is None:
            raise ValueError(f"kd_weight={kd_weight} needs teacher_logits")
        if tcm_weight < 0:
            raise ValueError(f"tcm_weight must be >= 0 (got {tcm_weight})")
        if parallel is not None and not parallel.parallel:
            parallel = None
        if parallel is not None:
            refused = {
                "mlp1_folds": mlp1_folds > 1,
                "mlp1_extra_loss": mlp1_extra_loss is not None,
                "mlp2_extra_loss": mlp2_extra_loss is not None,
                "tcm_weight": tcm_weight > 0,
            }
            named = [k for k, on in refused.items() if on]
            if named:
                raise ValueError(f"the student does not train data-parallel with {', '.join(named)}; leave it off")
        self.set_teacher(teacher_embeddings, candidate_mask, x)
        if regress_mask is None:
            regress_mask = candidate_mask & ~val_mask
        if int(regress_mask.sum()) == 0:
            raise ValueError("regress_mask selects no node for MLP1 to regress")
        monitor = candidate_mask & val_mask
        target = self._standardise(teacher_embeddings)
        xm = sparse.model_input(x)  # CSR for bag-of-words features: same values, faster
        fit1 = dict(
            x=xm,
            target=target,
            monitor=monitor,
            epochs=epochs,
            lr=lr,
            weight_decay=weight_decay,
            patience=patience,
            on_epoch=on_epoch,
            extra_loss=mlp1_extra_loss,
            batch_size=batch_size,
            full_batch_rows=full_batch_rows,
        )
        if tcm_weight > 0:
            fit1["tcm"] = (tcm_weight, _tcm_loss(*tcm_margins), train_mask, y[train_mask])
        h1 = _fit_regressor(self.mlp1, regress_mask, stage=f"{stage}/mlp1", parallel=parallel, **fit1)

        # MLP1 is frozen: MLP2's inputs are computed once.
        self.eval()
        with torch.no_grad():
            z = sparse.row_blocks(lambda p: self.mlp1(p[0]), [xm])
        folds: list[FitResult] = []
        if mlp1_folds > 1:
            # Cross-fitting: a node MLP1 regressed gets its embedding from an
            # MLP1 that never saw it, so MLP2 trains on embeddings as noisy as
            # those of unseen nodes at inference.
            idx = regress_mask.nonzero().view(-1)
            idx = idx[torch.randperm(idx.numel(), device=x.device)]
            for f, held in enumerate(idx.tensor_split(mlp1_folds)):
                fold_mask = regress_mask.clone()
                fold_mask[held] = False
                mlp = copy.deepcopy(self.mlp1)
                mlp.reset_parameters()
                folds.append(_fit_regressor(mlp, fold_mask, stage=f"{stage}/mlp1_fold{f}", **fit1))
                with torch.no_grad():
                    z[held] = mlp(sparse.take_rows(xm, held))
        fit1 = target = None  # the standardised targets ([N, embed]) are not needed by MLP2
        with torch.no_grad():
            if parallel is None:
                agg = self._aggregate(xm, z, self_index=torch.arange(n, device=x.device))
            else:  # each rank searches for its share of the nodes
                mine = parallel.rows(n).to(x.device)
                agg = self._aggregate(sparse.take_rows(xm, mine), z[mine], self_index=mine)
                agg = parallel.gather_rows(agg, n)
            inputs = [xm, agg, z]  # kept as blocks: see sparse.mlp_forward

        def rows(mask: Tensor) -> list[Tensor]:
            return [sparse.take_rows(part, mask) for part in inputs]

        use_kd = kd_weight > 0 or mlp2_extra_loss is not None
        if use_kd:
            kd_mask = candidate_mask & ~val_mask if kd_mask is None else kd_mask
        sizes = [int(train_mask.sum())] + ([int(kd_mask.sum())] if use_kd else [])
        batches = minibatches(sizes, batch_size, full_batch_rows) if parallel is None else None
        # full batch: the training and distilled rows copied once; mini-batches read each step's rows from the
        # inputs themselves (no copy of [rows, features + aggregate + embedding]: 3 GB at 1M nodes)
        train_idx = train_mask.nonzero().view(-1)
        train_in = rows(train_mask) if batches is None else inputs
        y_train = y[train_mask]
        val_in, y_val = rows(val_mask), y[val_mask]
        if use_kd:
            kd_idx = kd_mask.nonzero().view(-1)
            kd_in = rows(kd_mask) if batches is None else inputs
        if kd_weight > 0:
            kd_target = teacher_logits[kd_mask]

        last: dict[str, Tensor] = {}  # the training forward's outputs: the logged train_acc (one process)

        def mlp2_loss() -> Tensor:
            out = self._mlp2(train_in)
            last["train"] = out.detach()
            loss = F.cross_entropy(out, y_train)
            if kd_weight > 0 or mlp2_extra_loss is not None:
                kd_out = self._mlp2(kd_in)
            if kd_weight > 0:
                loss = loss + kd_weight * kd_loss(kd_out, kd_target, kd_temperature)
            if mlp2_extra_loss is not None:
                loss = loss + mlp2_extra_loss(kd_out, kd_mask)
            return loss

        if parallel is not None:
            loss2 = self._sharded_mlp2_loss(
                inputs, y, train_mask, kd_mask if kd_weight > 0 else None, teacher_logits, kd_weight, kd_temperature,
                parallel, last,
            )  # fmt: skip

        if batches is not None:
            seen = {"correct": 0, "rows": 0}

            def mlp2_batch_loss(batch: tuple[Tensor, ...]) -> Tensor:
                bt = batch[0].to(x.device).sort().values
                out = self._mlp2([sparse.take_rows(part, train_idx[bt]) for part in train_in])
                seen["correct"] += int((out.detach().argmax(-1) == y_train[bt]).sum())
                seen["rows"] += bt.numel()
                loss = F.cross_entropy(out, y_train[bt]) if bt.numel() else out.new_zeros(())
                if use_kd and batch[1].numel():
                    bk = batch[1].to(x.device).sort().values
                    kd_out = self._mlp2([sparse.take_rows(part, kd_idx[bk]) for part in kd_in])
                    if kd_weight > 0:
                        loss = loss + kd_weight * kd_loss(kd_out, kd_target[bk], kd_temperature)
                    if mlp2_extra_loss is not None:
                        mask = torch.zeros_like(kd_mask)
                        mask[kd_idx[bk]] = True
                        loss = loss + mlp2_extra_loss(kd_out, mask)
                return loss

        def mlp2_score() -> dict[str, float]:
            # the accuracy of the epoch's training forward (dropout on, before its step; under several ranks every
            # rank's share summed), not a second forward over every training node
            if batches is not None:  # the epoch's training steps, each before its update
                train_acc = 100.0 * seen["correct"] / max(seen["rows"], 1)
                seen["correct"] = seen["rows"] = 0
            elif parallel is None:
                train_acc = 100.0 * float((last["train"].argmax(-1) == y_train).float().mean())
            else:
                train_acc = parallel.accuracy(last["correct"], last["rows"])
            val = (
                100.0 * float((self._mlp2(val_in).argmax(-1) == y_val).float().mean())
                if y_val.numel()
                else float("nan")
            )
            if mlp2_val_score is None or not y_val.numel():
                return {"train_acc": train_acc, "val_acc": val, "score": val}
            score = float(mlp2_val_score(self._mlp2(val_in), val_mask))
            return {"train_acc": train_acc, "val_acc": val, "val_score": score, "score": score}

        h2 = fit(
            self.mlp2,
            (mlp2_loss if batches is None else mlp2_batch_loss) if parallel is None else loss2,
            mlp2_score,
            params=[{"params": self.mlp2.parameters(), "weight_decay": weight_decay}],
            epochs=epochs,
            lr=lr,
            patience=patience,
            stage=f"{stage}/mlp2",
            on_epoch=on_epoch,
            parallel=parallel,
            batches=batches,
        )
        h3 = {}
        for j, head in enumerate(self.heads()):
            name = "mlp3" if j == 0 else f"mlp3.{j}"
            h3[name] = self._fit_feature_head(
                head,
                name,
                xm,
                y,
                val_mask,
                kd_mask if kd_mask is not None else candidate_mask & ~val_mask,
                teacher_logits,
                kd_temperature=kd_temperature,
                epochs=epochs,
                lr=lr,
                weight_decay=weight_decay,
                patience=patience,
                stage=stage,
                on_epoch=on_epoch,
                parallel=parallel,
                batch_size=batch_size,
                full_batch_rows=full_batch_rows,
            )
        self.eval()
        return {"mlp1": h1, "mlp1_folds": folds, "mlp2": h2, **h3}

    def _fit_feature_head(
        self,
        head: MLP,
        name: str,
        xm,
        y,
        val_mask,
        kd_mask,
        teacher_logits,
        *,
        kd_temperature,
        epochs,
        lr,
        weight_decay,
        patience,
        stage,
        on_epoch,
        parallel: Context | None = None,
        batch_size: int = 0,
        full_batch_rows: int = FULL_BATCH_ROWS,
    ) -> FitResult:
        """MLP3: the teacher's soft labels distilled into an MLP on the features (GLNN's loss with no label term),
        its epoch kept on validation accuracy; mini-batches as in :meth:`fit`."""
        if teacher_logits is None:
            raise ValueError(f"feature_head={self.feature_head} needs teacher_logits (the head distils the teacher)")
        x_kd, t_kd = sparse.take_rows(xm, kd_mask), teacher_logits[kd_mask]
        x_val, y_val = sparse.take_rows(xm, val_mask), y[val_mask]
        head.reset_parameters()

        def score() -> dict[str, float]:
            if not y_val.numel():
                return {"val_acc": float("nan"), "score": float("nan")}
            acc = 100.0 * float((sparse.mlp_forward(head, [x_val]).argmax(-1) == y_val).float().mean())
            return {"val_acc": acc, "score": acc}

        loss = lambda: kd_loss(sparse.mlp_forward(head, [x_kd]), t_kd, kd_temperature)  # noqa: E731
        batches = minibatches([int(kd_mask.sum())], batch_size, full_batch_rows) if parallel is None else None
        if batches is not None:

            def loss(batch: tuple[Tensor]) -> Tensor:
                b = batch[0].to(t_kd.device).sort().values
                return kd_loss(sparse.mlp_forward(head, [sparse.take_rows(x_kd, b)]), t_kd[b], kd_temperature)

        if parallel is not None:  # this rank's share of the distilled rows, over their total count (DDP)
            net = parallel.wrap(_Blocks(head))
            share = parallel.shard(kd_mask.nonzero().view(-1))
            x_share, t_share = sparse.take_rows(xm, share), teacher_logits[share]
            scale = kd_temperature**2 * parallel.world_size / int(kd_mask.sum())
            loss = lambda: _kl_sum(net([x_share]), t_share, kd_temperature) * scale  # noqa: E731
            parallel.seed_rank(torch.initial_seed())
        return fit(
            head,
            loss,
            score,
            params=[{"params": head.parameters(), "weight_decay": weight_decay}],
            epochs=epochs,
            lr=lr,
            patience=patience,
            stage=f"{stage}/{name}",
            on_epoch=on_epoch,
            parallel=parallel,
            batches=batches,
        )

    def _sharded_mlp2_loss(
        self,
        inputs: list[Tensor],
        y: Tensor,
        train_mask: Tensor,
        kd_mask: Tensor | None,
        teacher_logits: Tensor | None,
        kd_weight: float,
        kd_temperature: float,
        parallel: Context,
        last: dict,
    ) -> Callable[[], Tensor]:
        """MLP2's loss (cross-entropy on the training nodes + ``kd_weight`` times the distillation on ``kd_mask``)
        split by rows over the ranks: one forward through the DDP wrapper on this rank's share of both sets, each
        term's sum divided by its set's total size and multiplied by the world size. Each forward leaves in ``last``
        this rank's count of right predictions on its training share (``"correct"``, ``"rows"``)."""
        net = parallel.wrap(_Blocks(self.mlp2))
        train_idx = train_mask.nonzero().view(-1)
        train = parallel.shard(train_idx)
        kd_idx = kd_mask.nonzero().view(-1) if kd_mask is not None else train_idx[:0]
        kd = parallel.shard(kd_idx) if kd_idx.numel() else kd_idx
        parts = [sparse.take_rows(p, torch.cat([train, kd])) for p in inputs]
        y_train, t_kd = y[train], teacher_logits[kd] if kd.numel() else None
        ce_scale = parallel.world_size / train_idx.numel()
        kd_scale = kd_weight * kd_temperature**2 * parallel.world_size / max(kd_idx.numel(), 1)
        parallel.seed_rank(torch.initial_seed())

        def loss_fn() -> Tensor:
            out = net(parts)
            last["correct"], last["rows"] = (out[: train.numel()].detach().argmax(-1) == y_train).sum(), train.numel()
            loss = F.cross_entropy(out[: train.numel()], y_train, reduction="sum") * ce_scale
            if t_kd is not None:
                loss = loss + _kl_sum(out[train.numel() :], t_kd, kd_temperature) * kd_scale
            return loss

        return loss_fn

    def _blend(self, logits: Tensor, xm: Tensor, linked: Tensor | None = None) -> Tensor:
        """With a feature head, the log of the blended class probabilities (the student's logits); else ``logits``.
        ``linked`` (bool ``[n]``): rows weighted by ``feature_head_linked`` (``None``: every row by
        ``feature_head``)."""
        if self.mlp3 is None:
            return logits
        if linked is None or self.feature_head == self.feature_head_linked:
            w = self.feature_head
            if w == 1.0 and self.mlp3_more is None:
                return torch.log_softmax(sparse.mlp_forward(self.mlp3, [xm]), dim=-1)
        else:
            w = torch.where(linked, self.feature_head_linked, self.feature_head).to(logits.dtype).unsqueeze(-1)
        probs = (1 - w) * torch.softmax(logits, dim=-1) + w * self._head_probs(xm)
        return probs.clamp_min(1e-30).log()

    def fit_retrieval(
        self, x: Tensor, y: Tensor, edge_index: Tensor, *, train_mask: Tensor, val_mask: Tensor, **kwargs
    ) -> dict:
        """Train the retrieval head (after :meth:`fit`; MLP1 / MLP2 are untouched) on the training graph
        ``edge_index`` of ``x``'s nodes; validation nodes' edges are left out of the loss and score the head.
        Keyword arguments: those of :func:`~graphlearn.methods.coldbrew.retrieval.fit_retrieval`."""
        if self.retrieval is None:
            raise ValueError("this student has no retrieval head: build it with retrieval_dim > 0 (got 0)")
        self._check_x(x)
        self._require_teacher()
        return fit_retrieval(self, x, y, edge_index, train_mask=train_mask, val_mask=val_mask, **kwargs)

    @torch.no_grad()
    def retrieval_vectors(self, features: Tensor) -> Tensor:
        """The retrieval head's unit vectors ``[n, retrieval_dim]`` of nodes given by their features alone (the
        same function for training-graph nodes and brand-new ones)."""
        self._check_x(features)
        self._require_teacher()
        if self.retrieval is None or not self.retrieval.trained:
            raise ValueError(
                "the student's retrieval head is "
                + ("absent (retrieval_dim=0)" if self.retrieval is None else "untrained: call fit_retrieval() first")
            )
        self._eval()
        xm = sparse.model_input(features)
        parts = self._inputs(features)
        return self.retrieval.combine(self.retrieval.project(xm), self._mlp2(parts))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"embed={self.embed_channels}, k={self.k}, metric={self.metric}, "
            f"query={self.query})"
        )


class ColdBrewServing(nn.Module):
    """Export-friendly twin of :meth:`ColdBrewStudent.logits` for new nodes
    (no ``self_index`` and no edges): the same parameters and buffers, the same
    numbers. Made by :meth:`ColdBrewStudent.serving`."""

    def __init__(self, student: ColdBrewStudent):
        super().__init__()
        self.student = student

    def forward(self, x: Tensor) -> Tensor:
        s = self.student
        z = s.mlp1(x)
        cand = s._standardise(s.teacher_embeddings[s.candidate_index])
        query, keys = (x, s.candidate_features) if s.query == "features" else (z, cand)
        if s.metric == "cos":
            query, keys = F.normalize(query, dim=-1), F.normalize(keys, dim=-1)
        scores = -torch.cdist(query, keys).pow(2) if s.metric == "l2" else query @ keys.t()
        top, index = scores.topk(s.k, dim=-1)
        weight = torch.softmax(top / s.temperature, dim=-1)
        agg = (weight.unsqueeze(-1) * cand[index]).sum(1)
        logits = s.mlp2(torch.cat([x, agg, z], dim=-1))
        if s.mlp3 is not None and s.mlp3_more is None and s.feature_head == 1.0:
            logits = torch.log_softmax(s.mlp3(x), dim=-1)
        elif s.mlp3 is not None:
            heads = s.heads()
            head = sum(torch.softmax(h(x), dim=-1) for h in heads) / len(heads)
            probs = (1 - s.feature_head) * torch.softmax(logits, dim=-1)
            logits = (probs + s.feature_head * head).clamp_min(1e-30).log()
        if not s.has_memory:
            return logits
        memory = (weight.unsqueeze(-1) * s.candidate_labels[index]).sum(1)  # new nodes: no edges
        probs = (1 - s.memory_weight) * torch.softmax(logits, dim=-1) + s.memory_weight * memory
        return probs.clamp_min(1e-30).log()
