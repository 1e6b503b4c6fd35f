r"""Backward-compatible updates of a Cold Brew student: a new student whose query vectors can be searched against an
index exported from an old one, and whose classifier flips as few of the old one's correct predictions as possible.

* **BCT** (`Shen et al., CVPR 2020 <https://arxiv.org/abs/2003.11942>`_): the new embedding model is trained with
  an *influence loss* in the old embedding space, so new queries are comparable with the old index (no re-indexing,
  no *backfilling*).
* **PCT** (`Yan et al., CVPR 2021 <https://arxiv.org/abs/2011.09161>`_): *focal distillation* from the old model's
  logits, weighted up on samples the old model classified correctly, lowers the *negative flip rate* (old right, new
  wrong; :func:`graphlearn.evaluation.compat.negative_flip_rate`).

:func:`train_update` trains the new teachers and student with :func:`run_coldbrew` (the same seeding, masks and
selection) through :meth:`ColdBrewStudent.fit`'s ``mlp1_extra_loss`` / ``mlp2_extra_loss`` hooks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from graphlearn import sparse
from graphlearn.training import EpochCallback

from .run import ColdBrewConfig, run_coldbrew
from .student import ColdBrewStudent

__all__ = ["UPDATE_MODES", "UpdateResult", "train_update", "influence_loss", "focal_distillation_loss"]

UPDATE_MODES = ("independent", "compatible")
#: The index (embedding space, :mod:`graphlearn.export.spaces`) a new student exports in each mode.
INDEX_SPACES = {"independent": "coldbrew", "compatible": "mlp1"}
# Default weights, chosen once on Cora validation (seeds 0-2; the validation nodes keep their edges, so they serve as
# queries with known neighbours): the influence weight by validation new/old recall (grid 1, 3, 10, 30), the focal
# weight by validation NFR (grid 0.3, 1, 3, 10 on seed 0; 10, 30, 100 on seeds 1-2); kept for every graph.
COMPAT_WEIGHT = 10.0
FLIP_WEIGHT = 30.0
# PCT's focal distillation filter alpha + beta * [old model right] (fixed, not tuned; off the labelled nodes the
# old model's confidence replaces [old model right], see train_update).
FOCAL_ALPHA = 1.0
FOCAL_BETA = 5.0


@dataclass
class UpdateResult:
    """What :func:`train_update` returns.

    Attributes:
        student (ColdBrewStudent): the new student.
        mode (str): ``"independent"`` or ``"compatible"``.
        index_space (str): the space of the new student's index (:func:`graphlearn.export.spaces.student_vectors`
            ``space=``): ``"coldbrew"`` when independent, ``"mlp1"`` when compatible (see :func:`train_update`).
        pred (Tensor): the new student's predictions int64 ``[N]`` (every node from its features, as in
            :func:`run_coldbrew`).
        old_pred (Tensor): the old student's predictions on the ``N_old`` nodes it knows, int64 ``[N_old]``.
        run (dict): the :func:`run_coldbrew` result (accuracies, the teachers in ``run["trained"]``).
    """

    student: ColdBrewStudent
    mode: str
    index_space: str
    pred: Tensor
    old_pred: Tensor
    run: dict[str, Any]


def influence_loss(z: Tensor, old: Tensor) -> Tensor:
    """BCT's influence loss in the old space: mean ``1 - cos(z_i, old_i)`` (the old index is searched by cosine)."""
    if z.size(0) == 0:
        return z.sum() * 0.0
    return (1.0 - F.cosine_similarity(z, old, dim=-1)).mean()


def focal_distillation_loss(
    logits: Tensor,
    old_logits: Tensor,
    old_correct: Tensor,
    alpha: float = FOCAL_ALPHA,
    beta: float = FOCAL_BETA,
    temperature: float = 1.0,
) -> Tensor:
    r"""PCT's focal distillation: :math:`\frac{1}{n}\sum_i (\alpha + \beta\,[\text{old right on } i])\,
    T^2\,\mathrm{KL}(\mathrm{softmax}(o_i/T)\,\|\,\mathrm{softmax}(s_i/T))`.

    Args:
        logits (Tensor): the new model's logits ``[n, C]``.
        old_logits (Tensor): the old model's logits ``[n, C]``.
        old_correct (Tensor): ``[n]``, where the old model was right: bool, or float in ``[0, 1]``, the probability
            that it was right where no label tells (:func:`train_update` uses the old model's confidence there).
    """
    if logits.size(0) == 0:
        return logits.sum() * 0.0
    kl = F.kl_div(
        F.log_softmax(logits / temperature, dim=-1),
        F.log_softmax(old_logits / temperature, dim=-1),
        reduction="none",
        log_target=True,
    ).sum(-1)
    weight = alpha + beta * old_correct.to(kl.dtype)
    return (weight * kl).mean() * temperature**2


def _check_inputs(data: Data, old_student: ColdBrewStudent, old_index: Tensor, num_classes: int) -> int:
    if not isinstance(old_student, ColdBrewStudent):
        raise TypeError(f"old_student must be a ColdBrewStudent (got {type(old_student).__name__})")
    width = data.x.size(1)
    if old_student.in_channels != width:
        raise ValueError(
            f"the old student was trained on features of width {old_student.in_channels} but data.x has width "
            f"{width}; both models must read the same features"
        )
    if old_student.out_channels != num_classes:
        raise ValueError(
            f"the old student predicts {old_student.out_channels} classes but the data has {num_classes}; "
            f"an update needs the same classes"
        )
    if not isinstance(old_index, Tensor) or old_index.dim() != 2:
        raise ValueError(f"old_index must be a 2-D tensor [N_old, d] (got {getattr(old_index, 'shape', old_index)})")
    n_old = old_index.size(0)
    if not 0 < n_old <= data.num_nodes:
        raise ValueError(
            f"old_index has {n_old} rows; it must index the first N_old of the data's {data.num_nodes} nodes "
            f"(a grown graph appends its new nodes)"
        )
    if n_old != old_student.teacher_embeddings.size(0):
        raise ValueError(
            f"old_index has {n_old} rows but the old student's training graph has "
            f"{old_student.teacher_embeddings.size(0)} nodes"
        )
    if old_index.size(1) != old_student.embed_channels:
        raise ValueError(
            f"old_index has width {old_index.size(1)} but the old student embeds into width "
            f"{old_student.embed_channels}"
        )
    if not bool(torch.isfinite(old_index).all()):
        raise ValueError("old_index contains NaN/inf")
    return n_old


def train_update(
    data: Data,
    old_student: ColdBrewStudent,
    old_index: Tensor,
    config: ColdBrewConfig | None = None,
    seed: int = 0,
    *,
    mode: str = "independent",
    compat_weight: float = COMPAT_WEIGHT,
    flip_weight: float = FLIP_WEIGHT,
    on_epoch: EpochCallback | None = None,
) -> UpdateResult:
    r"""Train a new teacher and Cold Brew student on ``data`` as an update of ``old_student``.

    ``data`` is a split graph as for :func:`run_coldbrew` whose first ``N_old`` nodes are the nodes of the old
    student's training graph, in the same order (the same graph, or a grown one with new nodes appended).
    ``old_index`` is the index the user exported from the old student, ``[N_old, d]``
    (:func:`graphlearn.export.spaces.student_vectors`\ ``(old_student, x)``, any of its spaces): it is taken as
    given, so the update is compatible with exactly what was exported.

    * ``mode="independent"``: an ordinary new student (:func:`run_coldbrew`'s, seeded by ``seed``). Its index is
      its own ``"coldbrew"`` space (new teacher embeddings; MLP1 estimates for nodes without a neighbourhood); its
      vectors are *not* comparable with the old index.
    * ``mode="compatible"``: MLP1's loss gains BCT's influence loss, ``compat_weight`` :math:`\times`
      :func:`influence_loss` between MLP1's output and the old index's vector of the same node, on the old-index
      nodes MLP1 regresses (``fit_mask`` of :func:`run_coldbrew`: a neighbourhood, not validation); MLP1's epoch is
      selected on validation MSE + weighted influence loss. MLP2's loss gains PCT's focal distillation,
      ``flip_weight`` :math:`\times` :func:`focal_distillation_loss` from the old student's logits, on the
      old-index nodes MLP2 distils (the same ``fit_mask``; weighted up where a training label shows the old model
      right); MLP2 trains all ``config.epochs`` epochs and keeps the last (no early stopping: the
      distillation to fixed targets needs the full run to converge, and validation's flip signal is too small to
      stop on; see ``_full_run_score``).
      **Index**: the new query vectors (:func:`~graphlearn.export.spaces.query_vectors`, MLP1's output)
      live in the old index's space, so they are searched against the old index as it is; a node appended by a
      grown graph is added to that index with its new query vector. The new teacher's embeddings are in a space
      of their own, so when the index is rebuilt from the new student it is its ``"mlp1"`` space (MLP1's output
      for every node), which stays in the old space.

    Args:
        data: the split graph (:func:`graphlearn.data.protocols.apply_protocol`).
        old_student (ColdBrewStudent): the old model (its logits are distilled; it is not changed).
        old_index (Tensor): the old index ``[N_old, d]``.
        config (ColdBrewConfig): settings of the new models; only the teachers the student needs and the student
            are trained. (default: ``ColdBrewConfig()``)
        seed (int): the new models' seed (:func:`run_coldbrew`).
        mode (str): ``"independent"`` or ``"compatible"``. (default: ``"independent"``)
        compat_weight (float): weight of the influence loss (compatible mode). (default: ``10.0``)
        flip_weight (float): weight of the focal distillation (compatible mode); compare
            ``config.kd_weight``, the weight of the new teacher's distillation. (default: ``30.0``)
        on_epoch: ``on_epoch(stage, epoch, metrics)`` as in :func:`run_coldbrew`.

    Returns:
        :class:`UpdateResult`.

    Raises:
        ValueError: an unknown mode, negative weights, or inputs that do not fit together (feature width or
            classes of the old student, the old index's shape), each naming the values.
    """
    if mode not in UPDATE_MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {list(UPDATE_MODES)}")
    for name, w in (("compat_weight", compat_weight), ("flip_weight", flip_weight)):
        if not w >= 0:
            raise ValueError(f"{name} must be >= 0 (got {w})")
    config = config or ColdBrewConfig()
    x, y = data.x, data.y
    num_classes = int(getattr(data, "num_classes", None) or int(y.max()) + 1)
    n_old = _check_inputs(data, old_student, old_index, num_classes)
    teachers = {"auto": ("GNN", "GNN+SE"), "GNN+SE": ("GNN+SE",), "GNN": ("GNN",)}[config.student_teacher]
    config = dataclasses.replace(config, models=(*teachers, "ColdBrew"))

    n = data.num_nodes
    in_old = torch.zeros(n, dtype=torch.bool, device=x.device)
    in_old[:n_old] = True
    old_student.eval()
    with torch.no_grad():
        old_logits = old_student.logits(
            sparse.take_rows(x, torch.arange(n_old, device=x.device)), self_index=torch.arange(n_old, device=x.device)
        )
    old_pred = old_logits.argmax(-1)

    student_fit: dict[str, Any] = {}
    if mode == "compatible":
        old_vec = torch.zeros(n, old_index.size(1), dtype=x.dtype, device=x.device)
        old_vec[:n_old] = old_index.to(device=x.device, dtype=x.dtype)
        logits_all = torch.zeros(n, num_classes, dtype=old_logits.dtype, device=x.device)
        logits_all[:n_old] = old_logits
        # PCT's filter [old right] is known on the labelled nodes only; on the others its expectation, the old
        # model's confidence (max softmax), stands in for it (previously 0 there, i.e. the unlabelled nodes got the
        # alpha weight alone). Chosen on validation: mean validation NFR over Cora and CiteSeer, seeds 0-4, at MLP2's
        # final epoch, 2.45 -> 2.21 (validation accuracy 71.40 -> 71.05).
        conf = old_logits.softmax(-1).max(-1).values
        train_old = data.train_mask[:n_old]
        correct = torch.zeros(n, dtype=old_logits.dtype, device=x.device)
        correct[:n_old] = torch.where(train_old, (old_pred == y[:n_old]).to(conf.dtype), conf)
        student_fit["mlp1_extra_loss"] = _compat_mlp1(old_vec, in_old, compat_weight, old_index.size(1))
        student_fit["mlp2_extra_loss"] = _compat_mlp2(logits_all, correct, in_old, flip_weight)
        student_fit["mlp2_val_score"] = _full_run_score()
    run = run_coldbrew(data, config, seed=seed, on_epoch=on_epoch, student_fit=student_fit)
    return UpdateResult(
        student=run["trained"]["ColdBrew"],
        mode=mode,
        index_space=INDEX_SPACES[mode],
        pred=run["models"]["ColdBrew"]["pred"],
        old_pred=old_pred.cpu(),
        run=run,
    )


def _compat_mlp1(old_vec: Tensor, in_old: Tensor, weight: float, width: int):
    def loss(z: Tensor, mask: Tensor) -> Tensor:
        if z.size(1) != width:
            raise ValueError(
                f"the new student's MLP1 has width {z.size(1)} but the old index has width {width}; a compatible "
                f"update needs the same teacher embedding width (teacher_hidden, teacher_layers, classes)"
            )
        sel = in_old[mask]
        return weight * influence_loss(z[sel], old_vec[mask][sel])

    return loss


def _full_run_score():
    """MLP2's epoch selection in compatible mode: a score that rises every epoch, so MLP2 trains the whole epoch
    budget (``config.epochs``; ``config.patience`` never stops it) and keeps its final epoch.

    This is PCT's own recipe (Yan et al. train the new model on a fixed schedule; nothing is selected on flips).
    Why not select on validation: the focal distillation pulls MLP2 towards fixed targets (the old logits) on every
    distilled node, a fit that keeps converging for hundreds of epochs, while validation nodes are held out of it
    (they stand for the isolated nodes) and carry a tiny flip signal (Cora: ~450 nodes, ~9 flips). Selection by
    validation accuracy minus validation NFR with early stopping (the previous rule) stopped on a noise spike: on
    Cora seed 3, epoch 7 of 58 with the training loss 2.6x its converged value (test NFR +4.3 points over the
    independent update). For the record (these are test numbers, measured after the rule was set, not used to tune
    any value): replayed on the recorded MLP2 curves of the 5 benchmark seeds (Cora, CiteSeer), the final
    epoch flipped less than that rule (NFR 1.34 vs 3.56, 2.34 vs 2.92) and than selecting on validation over the full
    run (by acc - NFR: 1.50, 2.36; by NFR with a 1-point accuracy floor: 1.64, 2.34), at no cost in accuracy; see
    benchmarks/results/update.md."""
    epoch = 0

    def score(logits: Tensor, mask: Tensor) -> float:
        nonlocal epoch
        epoch += 1
        return float(epoch)

    return score


def _compat_mlp2(old_logits: Tensor, correct: Tensor, in_old: Tensor, weight: float):
    def loss(logits: Tensor, mask: Tensor) -> Tensor:
        sel = in_old[mask]
        return weight * focal_distillation_loss(logits[sel], old_logits[mask][sel], correct[mask][sel])

    return loss
