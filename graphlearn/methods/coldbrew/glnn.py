"""GLNN baseline: an MLP distilled from a GNN's soft labels (`Zhang et al.,
ICLR 2022 <https://arxiv.org/abs/2110.08727>`_; PyG ``examples/glnn.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphlearn import sparse
from graphlearn.models.mlp import PyGMLP as MLP  # PyG's MLP with graphlearn's one dropout
from graphlearn.training import FULL_BATCH_ROWS, EpochCallback, FitResult, fit, minibatches

if TYPE_CHECKING:
    from graphlearn.distributed import Context


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0) -> Tensor:
    r""":math:`T^2 \cdot \mathrm{KL}(\mathrm{softmax}(t/T) \,\|\,
    \mathrm{softmax}(s/T))`, averaged over nodes (Hinton et al., 2015)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (got {temperature})")
    return (
        F.kl_div(
            F.log_softmax(student_logits / temperature, dim=-1),
            F.log_softmax(teacher_logits / temperature, dim=-1),
            reduction="batchmean",
            log_target=True,
        )
        * temperature**2
    )


class MLPClassifier(nn.Module):
    """A plain MLP node classifier (``forward(x, edge_index=None)``, edges
    ignored): the MLP baseline and the GLNN student.

    Args:
        in_channels (int): feature width.
        hidden_channels (int): hidden width.
        out_channels (int): number of classes.
        num_layers (int): number of linear layers. (default: ``2``)
        dropout (float): dropout after hidden layers. (default: ``0.5``)
    """

    def __init__(
        self, in_channels: int, hidden_channels: int, out_channels: int, num_layers: int = 2, dropout: float = 0.5
    ):
        super().__init__()
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        self.out_channels, self.num_layers, self.dropout = out_channels, num_layers, dropout
        self.mlp = MLP(
            [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels], dropout=dropout, norm=None
        )

    @property
    def hparams(self) -> dict:
        return {
            "in_channels": self.in_channels,
            "hidden_channels": self.hidden_channels,
            "out_channels": self.out_channels,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
        }

    def reset_parameters(self) -> None:
        self.mlp.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor | None = None) -> Tensor:
        return self.mlp(x)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, "
            f"{self.out_channels}, layers={self.num_layers})"
        )


def train_glnn(
    x: Tensor,
    y: Tensor,
    teacher_logits: Tensor | None,
    *,
    train_mask: Tensor,
    val_mask: Tensor,
    kd_mask: Tensor | None = None,
    num_classes: int | None = None,
    lam: float = 0.5,
    temperature: float = 1.0,
    hidden_channels: int = 256,
    num_layers: int = 2,
    dropout: float = 0.5,
    epochs: int = 500,
    lr: float = 0.01,
    weight_decay: float = 5e-4,
    patience: int | None = 100,
    stage: str = "GLNN",
    on_epoch: EpochCallback | None = None,
    parallel: Context | None = None,
    batch_size: int = 0,
    full_batch_rows: int = FULL_BATCH_ROWS,
) -> tuple[MLPClassifier, FitResult]:
    r"""Train an :class:`MLPClassifier` with
    :math:`\lambda\,\mathrm{CE}(\text{train labels}) + (1-\lambda)\,
    \mathrm{KD}(\text{teacher}, T)` (GLNN's loss, :func:`kd_loss` on
    ``kd_mask``). ``teacher_logits=None`` or ``lam=1`` is the plain MLP
    baseline. The epoch with the best validation accuracy is kept.

    Args:
        x, y: features ``[N, F]`` and labels ``[N]``.
        teacher_logits (Tensor, optional): teacher outputs ``[N, C]``.
        train_mask, val_mask: bool ``[N]``.
        kd_mask (Tensor, optional): nodes whose soft labels are distilled;
            default all nodes. Under the cold-start protocol pass the nodes with
            a neighbourhood (the teacher saw no edge of the others).
        num_classes (int, optional): default ``teacher_logits.size(1)``, else
            ``y.max() + 1``.
        lam (float): weight of the label loss, in ``[0, 1]``. (default: ``0.5``)
        temperature (float): distillation temperature. (default: ``1.0``)
        hidden_channels, num_layers, dropout: the MLP.
        epochs, lr, weight_decay, patience: Adam training.
        parallel (distributed.Context, optional): train data-parallel over the ranks of a ``torch.distributed`` job
            (:func:`_sharded_loss`); every rank scores the selection itself and takes rank 0's decision. (default:
            ``None``: one process, bit for bit as without it)
        batch_size, full_batch_rows: with ``batch_size > 0`` and more than ``full_batch_rows`` rows to forward (the
            training and distilled nodes), each epoch is a pass of mini-batch steps of about ``batch_size`` rows
            (:func:`graphlearn.training.minibatches`; each step's loss is its labelled rows' mean cross-entropy and
            its distilled rows' mean KD); else one full-batch step. One process only. (default: ``0``, full batch)

    Returns:
        ``(model, FitResult)``; the model is in eval mode.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1] (got {lam})")
    if teacher_logits is None and lam < 1.0:
        lam = 1.0  # nothing to distil: the plain MLP
    if teacher_logits is not None and teacher_logits.size(0) != x.size(0):
        raise ValueError(f"teacher_logits has {teacher_logits.size(0)} rows, x has {x.size(0)}")
    if int(train_mask.sum()) == 0:
        raise ValueError("train_mask selects no node")
    if parallel is not None and not parallel.parallel:
        parallel = None
    kd_mask = torch.ones_like(train_mask) if kd_mask is None else kd_mask
    if num_classes is None:
        num_classes = teacher_logits.size(1) if teacher_logits is not None else int(y.max()) + 1
    model = MLPClassifier(x.size(1), hidden_channels, num_classes, num_layers=num_layers, dropout=dropout).to(x.device)

    # Forward only the rows a loss or the selection reads (the dense [N, F]
    # product dominates the cost of an epoch).
    train_idx, val_idx = train_mask.nonzero().view(-1), val_mask.nonzero().view(-1)
    kd_idx = kd_mask.nonzero().view(-1) if lam < 1.0 else train_idx[:0]
    rows = torch.cat([train_idx, kd_idx]).unique()
    pos = torch.full((x.size(0),), -1, dtype=torch.long, device=x.device)
    pos[rows] = torch.arange(rows.numel(), device=x.device)
    xm = sparse.model_input(x)
    x_rows, y_train = sparse.take_rows(xm, rows), y[train_idx]
    t_kd = teacher_logits[kd_idx] if lam < 1.0 else None
    # The logged train_acc is that of the epoch's training forward (dropout on, before its step; under several
    # ranks the right predictions of every rank's share summed), so the evaluation forwards the validation rows
    # only (the training rows were most of its cost).
    x_eval = sparse.take_rows(xm, val_idx)
    last: dict[str, Tensor] = {}

    batches = minibatches([rows.numel()], batch_size, full_batch_rows) if parallel is None else None
    if batches is not None:  # one set: the forwarded rows, each step's labelled and distilled rows read off it
        is_train = torch.zeros(rows.numel(), dtype=torch.bool, device=x.device)
        is_train[pos[train_idx]] = True
        is_kd = torch.zeros_like(is_train)
        is_kd[pos[kd_idx]] = True
        y_rows = y[rows]
        t_rows = teacher_logits[rows] if lam < 1.0 else None
        seen = {"correct": 0, "rows": 0}

        def batch_loss(batch: tuple[Tensor]) -> Tensor:
            (b,) = batch
            b = b.to(x.device)
            out = model(sparse.take_rows(x_rows, b))
            tr, kd = is_train[b], is_kd[b]
            loss = out.new_zeros(())
            if bool(tr.any()):
                o, t = out[tr], y_rows[b[tr]]
                seen["correct"] += int((o.detach().argmax(-1) == t).sum())
                seen["rows"] += int(tr.sum())
                if lam > 0:
                    loss = loss + lam * F.cross_entropy(o, t)
            if lam < 1.0 and bool(kd.any()):
                loss = loss + (1 - lam) * kd_loss(out[kd], t_rows[b[kd]], temperature)
            return loss

    if parallel is None:

        def loss_fn() -> Tensor:
            out = model(x_rows)
            last["train"] = out[pos[train_idx]].detach()
            loss = lam * F.cross_entropy(out[pos[train_idx]], y_train)
            if lam < 1.0:
                loss = loss + (1 - lam) * kd_loss(out[pos[kd_idx]], t_kd, temperature)
            return loss

    else:
        loss_fn = _sharded_loss(model, xm, y, teacher_logits, train_idx, kd_idx, lam, temperature, parallel, last)
        parallel.seed_rank(torch.initial_seed())  # other dropout masks on every rank but 0

    def score_fn() -> dict[str, float]:
        out = model(x_eval)
        if batches is not None:  # the epoch's training steps, each before its update
            train_acc = 100.0 * seen["correct"] / max(seen["rows"], 1)
            seen["correct"] = seen["rows"] = 0
        elif parallel is None:
            train_acc = 100.0 * float((last["train"].argmax(-1) == y_train).float().mean())
        else:
            train_acc = parallel.accuracy(last["correct"], last["rows"])
        val = 100.0 * float((out.argmax(-1) == y[val_idx]).float().mean()) if val_idx.numel() else float("nan")
        return {"train_acc": train_acc, "val_acc": val, "score": val}

    history = fit(
        model,
        loss_fn if batches is None else batch_loss,
        score_fn,
        params=[{"params": model.parameters(), "weight_decay": weight_decay}],
        epochs=epochs,
        lr=lr,
        patience=patience,
        stage=stage,
        on_epoch=on_epoch,
        parallel=parallel,
        batches=batches,
    )
    return model, history


def _sharded_loss(
    model: MLPClassifier,
    xm: Tensor,
    y: Tensor,
    teacher_logits: Tensor | None,
    train_idx: Tensor,
    kd_idx: Tensor,
    lam: float,
    temperature: float,
    parallel: Context,
    last: dict,
):
    """GLNN's loss split by rows over ranks, through the ``DistributedDataParallel`` wrapper: each rank sums the label
    loss over its share of the training nodes and the distillation loss over its share of the distilled nodes, each
    divided by that set's total size and multiplied by the world size (DDP averages gradients), so the averaged
    gradient is the one-process gradient of :func:`train_glnn`'s loss. Each forward leaves in ``last`` this rank's
    count of right predictions on its training share (``"correct"``, ``"rows"``): the epoch's train_acc."""
    net = parallel.wrap(model)
    train, kd = parallel.shard(train_idx), parallel.shard(kd_idx) if lam < 1.0 else kd_idx[:0]
    x_rows, y_train = sparse.take_rows(xm, torch.cat([train, kd])), y[train]
    t_kd = teacher_logits[kd] if lam < 1.0 else None
    ce_scale = lam * parallel.world_size / train_idx.numel()
    kd_scale = (1 - lam) * temperature**2 * parallel.world_size / max(kd_idx.numel(), 1)

    def loss_fn() -> Tensor:
        out = net(x_rows)
        last["correct"], last["rows"] = (out[: train.numel()].detach().argmax(-1) == y_train).sum(), train.numel()
        loss = F.cross_entropy(out[: train.numel()], y_train, reduction="sum") * ce_scale
        if lam < 1.0:
            student = F.log_softmax(out[train.numel() :] / temperature, dim=-1)
            target = F.log_softmax(t_kd / temperature, dim=-1)
            loss = loss + F.kl_div(student, target, reduction="sum", log_target=True) * kd_scale
        return loss

    return loss_fn


def train_mlp(x: Tensor, y: Tensor, **kwargs) -> tuple[MLPClassifier, FitResult]:
    """The MLP baseline: :func:`train_glnn` without a teacher."""
    kwargs.setdefault("stage", "MLP")
    return train_glnn(x, y, None, **kwargs)
