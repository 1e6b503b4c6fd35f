"""One seed of the Cold Brew experiment: teachers, baselines and the student.

:func:`run_coldbrew` trains every model of the comparison on one split and
returns predictions and per-group accuracies; the pipeline
(``pipelines/coldbrew.py``) loops over seeds, logs and aggregates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphlearn.config import Config, param
from graphlearn.data.splits import group_masks, node_degree, val_group_masks
from graphlearn.evaluation import accuracy
from graphlearn.training import EpochCallback, seed_everything, stage_seed

from .fcr import feature_contribution_ratio, label_propagation
from .glnn import train_glnn, train_mlp
from .neighbors import METRICS
from .retrieval import FEATURE_VIEWS
from .student import QUERIES, ColdBrewStudent
from .teacher import CONVS, ColdBrewTeacher, train_teacher
from .tune import CANDIDATE

MODELS = ("GNN", "GNN+SE", "MLP", "GLNN", "LP", "ColdBrew")
STUDENT_TEACHERS = ("auto", "GNN+SE", "GNN")


@dataclass
class ColdBrewConfig(Config):
    """Settings of :func:`run_coldbrew` (:class:`graphlearn.config.Config`: build from a dict with
    :meth:`from_dict`; unknown keys raise, command-line strings are converted, ranges checked)."""

    # Which models to train: a subset of MODELS. "GNN" is the teacher without
    # structural embedding, "GNN+SE" the Cold Brew teacher; ColdBrew needs
    # GNN+SE, GLNN needs GNN, FCR needs MLP, LP and GNN.
    models: tuple[str, ...] = MODELS
    # --- teacher GNNs
    conv: str = param("gcn", choices=CONVS)  # "gcn" or "sage"
    teacher_hidden: int = param(64, min=1)  # hidden width
    teacher_layers: int = param(2, min=1)  # number of graph convolutions
    teacher_dropout: float = param(0.5, min=0.0, max=1.0)
    se_layers: tuple[int, ...] = (0,)  # layers with a structural embedding (GNN+SE)
    se_weight: float = param(1e-3, min=0.0)  # coefficient of the SE penalty (mean squared row norm)
    teacher_lr: float = param(0.01, gt=0.0)
    teacher_weight_decay: float = param(5e-4, min=0.0)
    # --- student (MLP1 + virtual neighbours + MLP2). Defaults chosen on Cora
    # validation accuracy (docs/coldbrew.md); the paper's own setting is
    # query="embedding", metric="ip", k=3, temperature=1, kd_weight=0, mlp1_folds=0.
    student_hidden: int = param(256, min=1)
    student_layers: int = param(2, min=1)  # layers per MLP
    student_dropout: float = param(0.5, min=0.0, max=1.0)
    k: int = param(50, min=1)  # virtual neighbours per node
    temperature: float = param(0.1, gt=0.0)  # softmax temperature of the neighbour weights
    metric: str = param("cos", choices=METRICS)  # neighbour score: "ip", "cos" or "l2"
    query: str = param("features", choices=QUERIES)  # search space: "embedding" (paper) or "features"
    kd_weight: float = param(10.0, min=0.0)  # weight of distillation from the teacher in MLP2's loss
    # Which teacher the student distils: "GNN+SE" (the paper), "GNN" (SE off), or
    # "auto": the one with the higher validation accuracy (ties: GNN+SE). Whether
    # the structural embedding helps is a hyper-parameter choice made on validation.
    student_teacher: str = param("auto", choices=STUDENT_TEACHERS)
    mlp1_folds: int = 0  # cross-fitting folds for MLP2's inputs (0: off)
    # Opt-in threshold-consistent margin regulariser (TCM, ICLR 2024) on MLP1's
    # output, on the labelled training nodes (0: off, the default loss exactly;
    # benchmarks/results/opis.md measures it).
    mlp1_tcm_weight: float = param(0.0, min=0.0)
    mlp1_tcm_margin_plus: float = param(0.9, min=-1.0, max=1.0)  # positives with a lower cosine are penalised
    mlp1_tcm_margin_minus: float = param(0.5, min=-1.0, max=1.0)  # negatives with a higher cosine are penalised
    # Opt-in retrieval head (graphlearn.methods.coldbrew.retrieval): width of the exported "retrieval" space,
    # trained after MLP1 / MLP2 (0: off, the student exactly as without it); InfoNCE temperature, raw-feature
    # nearest nodes per node used as positives. Defaults: docs in retrieval.py, benchmarks/results/export_retrieval.md.
    retrieval_dim: int = param(0, min=0)
    retrieval_tau: float = param(0.1, gt=0.0)
    retrieval_knn: int = param(5, min=0)
    retrieval_label_weight: float = param(0.0, min=0.0)  # supervised-contrastive term on labelled training nodes
    retrieval_batch: int = param(2048, min=2)  # positive pairs of each kind per step (in-batch negatives)
    retrieval_steps: int = param(300, min=1)  # maximum optimiser steps (best step kept on validation)
    # how the head reads features: "values", "presence", "presence-idf", or "auto" (the view whose own cosine
    # retrieves the validation nodes' neighbours best)
    retrieval_features: str = param("auto", choices=("auto", *FEATURE_VIEWS))
    # Opt-in feature head (ColdBrewStudent's feature_head): weight of a GLNN-style MLP on the features alone in the
    # student's class probabilities (0: off, the student exactly as without it; 1: the head alone). A choice for the
    # cold-start validation set (coldbrew --tune), where the virtual-neighbour branch does not help isolated nodes.
    feature_head: float = param(0.0, min=0.0, max=1.0)
    student_lr: float = param(0.01, gt=0.0)
    student_weight_decay: float = param(5e-4, min=0.0)
    # --- MLP baseline and GLNN (same MLP shape as the student's)
    glnn_lambda: float = param(0.0, min=0.0, max=1.0)  # weight of the label loss (1 - lambda: teacher)
    glnn_temperature: float = param(1.0, gt=0.0)
    # --- label propagation (for FCR)
    lp_layers: int = param(50, min=1)
    lp_alpha: float = param(0.5, min=0.0, max=1.0)
    # --- every model
    epochs: int = param(500, min=1)  # maximum epochs per model
    patience: int | None = param(50, min=1)  # early stopping on validation (None: off)

    def check(self) -> None:
        unknown = sorted(set(self.models) - set(MODELS))
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
        if self.mlp1_folds == 1 or self.mlp1_folds < 0:
            raise ValueError(f"mlp1_folds must be 0 (off) or >= 2 (got {self.mlp1_folds})")
        if self.retrieval_dim and "ColdBrew" in self.models:
            # the class block takes num_classes columns; checked against the data in ColdBrewStudent
            if self.retrieval_dim < 2:
                raise ValueError(f"retrieval_dim must be 0 (off) or >= 2 (got {self.retrieval_dim})")
        if not self.se_layers:
            raise ValueError("se_layers is empty: GNN+SE would equal GNN; use models without 'GNN+SE' instead")
        needs = {
            "GLNN": ("GNN",),
            "ColdBrew": {"auto": ("GNN+SE", "GNN"), "GNN+SE": ("GNN+SE",), "GNN": ("GNN",)}[self.student_teacher],
        }
        for model, teachers in needs.items():
            if model in self.models and not set(teachers) & set(self.models):
                raise ValueError(f"model {model!r} needs its teacher ({' or '.join(teachers)}) in models")


def _scores(data: Data, pred: Tensor, groups: dict[str, Tensor]) -> dict[str, float]:
    return {g: accuracy(data.y, pred, m) for g, m in groups.items()}


def run_coldbrew(
    data: Data,
    config: ColdBrewConfig | None = None,
    seed: int = 0,
    on_epoch: EpochCallback | None = None,
    student_fit: Mapping[str, Any] | None = None,
    candidates: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Train the models of ``config.models`` on one split and evaluate them.

    ``data`` follows the graph contract (docs/design.md) after
    :class:`~graphlearn.data.splits.ColdStartSplit`: ``edge_index`` is the
    training graph (no edge touches an isolated node) and the group masks are
    set. Every model sees only that graph; the isolated test nodes are
    predicted from their features (the GNNs see them with no edge, as in the
    paper's baselines). Each model is seeded with
    ``stage_seed(seed, model_name)``; selection uses ``val_mask`` only.

    Args:
        data: the split graph.
        config: :class:`ColdBrewConfig` (default settings if ``None``).
        seed (int): the run's seed.
        on_epoch: ``on_epoch(stage, epoch, metrics)`` for every epoch of every
            model (stages ``"GNN"``, ``"GNN+SE"``, ``"MLP"``, ``"GLNN"``,
            ``"ColdBrew/mlp1"``, ``"ColdBrew/mlp1_fold<i>"`` when cross-fitting,
            ``"ColdBrew/mlp2"``).
        student_fit (Mapping, optional): extra keyword arguments of
            :meth:`ColdBrewStudent.fit` (its ``mlp1_extra_loss`` /
            ``mlp2_extra_loss`` hooks, used by
            :func:`~graphlearn.methods.coldbrew.train_update`). (default: ``None``)
        candidates (sequence, optional): the student settings of a search
            (:func:`~graphlearn.methods.coldbrew.tune.candidate_settings`): ``candidates[0]`` is the configured
            student (the ``"ColdBrew"`` model, trained as without a search); each further one, a dict of
            ``ColdBrewConfig`` overrides, is trained on the same teachers as ``"ColdBrew/c<i>"`` (its
            ``val_groups["isolated"]`` is the search's score; no module kept). (default: ``None``)

    Returns:
        ``{"seed", "config", "fcr": float | None, "trained", "models": {name: {"pred":
        int64 [N], "logits": float [N, C] or None, "acc": {group: percent}, "val_acc": percent, "val_groups":
        {group: percent} (validation accuracy per group; "isolated" is the cold-start validation set),
        "best_epoch": int | None}}}``; groups are those of
        :func:`~graphlearn.data.splits.group_masks`. ``fcr`` (percent) is
        computed from the overall test accuracies of MLP, LP and GNN, and is
        ``None`` when one of them was not trained or FCR is undefined.
        ``"student_teacher"`` names the teacher the student distilled (``None``
        without a student). ``"retrieval"`` (only with ``config.retrieval_dim``) is the retrieval head's
        training summary (:func:`~graphlearn.methods.coldbrew.retrieval.fit_retrieval`). ``"trained"`` maps
        model names (all but LP) to the fitted modules, for :func:`~graphlearn.methods.coldbrew.save`.
    """
    config = config or ColdBrewConfig()
    x, y, edge_index = data.x, data.y, data.edge_index
    train_mask, val_mask = data.train_mask, data.val_mask
    num_classes = int(getattr(data, "num_classes", None) or int(y.max()) + 1)
    groups = group_masks(data)
    val_groups = val_group_masks(data)
    has_neighbourhood = node_degree(edge_index, data.num_nodes) > 0
    # Nodes whose teacher outputs the MLPs may fit (distillation, MLP1's
    # regression): those with a neighbourhood, minus validation nodes, which
    # are thereby predicted from features alone like the isolated test nodes.
    # (Still not a perfect proxy: validation nodes keep their edges, so their
    # neighbours' teacher embeddings were computed with them.)
    fit_mask = has_neighbourhood & ~val_mask
    models: dict[str, dict[str, Any]] = {}
    logits: dict[str, Tensor] = {}
    trained: dict[str, torch.nn.Module] = {}

    def record(name: str, out: Tensor, history: dict | None) -> None:
        pred = out.argmax(-1) if out.dim() == 2 else out
        logits[name] = out
        models[name] = {
            "pred": pred.cpu(),
            "logits": out.detach().cpu() if out.dim() == 2 else None,
            "acc": _scores(data, pred, groups),
            "val_acc": accuracy(y, pred, val_mask) if bool(val_mask.any()) else float("nan"),
            # per validation group (docs/protocols.md): "isolated" is the cold-start validation set
            "val_groups": _scores(data, pred, val_groups),
            "best_epoch": history.best_epoch if history else None,
        }

    def teacher(name: str, se_layers: tuple[int, ...]) -> ColdBrewTeacher:
        seed_everything(stage_seed(seed, name))
        model = ColdBrewTeacher(
            x.size(1),
            config.teacher_hidden,
            num_classes,
            data.num_nodes,
            num_layers=config.teacher_layers,
            conv=config.conv,
            se_layers=se_layers,
            dropout=config.teacher_dropout,
        ).to(x.device)
        history = train_teacher(
            model,
            x,
            edge_index,
            y,
            train_mask,
            val_mask,
            epochs=config.epochs,
            lr=config.teacher_lr,
            weight_decay=config.teacher_weight_decay,
            se_weight=config.se_weight,
            patience=config.patience,
            stage=name,
            on_epoch=on_epoch,
        )
        with torch.no_grad():
            record(name, model(x, edge_index), history)
        trained[name] = model
        return model

    mlp_kwargs = dict(
        train_mask=train_mask,
        val_mask=val_mask,
        num_classes=num_classes,
        hidden_channels=config.student_hidden,
        num_layers=config.student_layers,
        dropout=config.student_dropout,
        epochs=config.epochs,
        lr=config.student_lr,
        weight_decay=config.student_weight_decay,
        patience=config.patience,
        on_epoch=on_epoch,
    )

    if "GNN" in config.models:
        teacher("GNN", ())
    if "GNN+SE" in config.models:
        teacher("GNN+SE", config.se_layers)

    if "MLP" in config.models:
        seed_everything(stage_seed(seed, "MLP"))
        mlp, history = train_mlp(x, y, **mlp_kwargs)
        with torch.no_grad():
            record("MLP", mlp(x), history)
        trained["MLP"] = mlp

    if "GLNN" in config.models:
        seed_everything(stage_seed(seed, "GLNN"))
        glnn, history = train_glnn(
            x,
            y,
            logits["GNN"],
            kd_mask=fit_mask,
            lam=config.glnn_lambda,
            temperature=config.glnn_temperature,
            stage="GLNN",
            **mlp_kwargs,
        )
        with torch.no_grad():
            record("GLNN", glnn(x), history)
        trained["GLNN"] = glnn

    if "LP" in config.models:
        record(
            "LP",
            label_propagation(
                y, edge_index, train_mask, num_classes, num_layers=config.lp_layers, alpha=config.lp_alpha
            ),
            None,
        )

    student_teacher, retrieval = None, None
    if "ColdBrew" in config.models:
        student_teacher = _pick_teacher(config.student_teacher, models)
        student, history = train_student(
            data,
            config,
            trained[student_teacher].embed(x, edge_index),
            logits[student_teacher],
            seed=seed,
            on_epoch=on_epoch,
            student_fit=student_fit,
        )
        out = student.logits(x, self_index=torch.arange(data.num_nodes, device=x.device))
        record("ColdBrew", out, history["mlp2"])
        trained["ColdBrew"] = student
        if config.retrieval_dim:
            # after the student's numbers are recorded: the head changes none of them
            seed_everything(stage_seed(seed, "ColdBrew/retrieval"))
            retrieval = student.fit_retrieval(
                x,
                y,
                edge_index,
                train_mask=train_mask,
                val_mask=val_mask,
                tau=config.retrieval_tau,
                knn=config.retrieval_knn,
                batch_size=config.retrieval_batch,
                label_weight=config.retrieval_label_weight,
                max_steps=config.retrieval_steps,
                seed=stage_seed(seed, "ColdBrew/retrieval"),
                features=config.retrieval_features,
            )

    for i, over in enumerate(candidates or ()):
        if i == 0 or "ColdBrew" not in config.models:
            continue  # candidate 0 is the configured student, trained above
        try:
            cfg = config.replace(**over)
        except ValueError as exc:
            raise ValueError(f"candidate {i} {dict(over)} is invalid: {exc}") from None
        name = over.get("student_teacher", student_teacher)
        name = _pick_teacher(name, models) if name == "auto" else name
        if name not in trained:
            raise ValueError(f"candidate {i} distils teacher {name!r}, which was not trained (models: {config.models})")
        with torch.no_grad():
            emb = trained[name].embed(x, edge_index)
        cand, _ = train_student(data, cfg, emb, logits[name], seed=seed)
        record(CANDIDATE.format(i), cand.logits(x, self_index=torch.arange(data.num_nodes, device=x.device)), None)

    fcr = None
    if {"MLP", "LP", "GNN"} <= set(models):
        try:
            fcr = feature_contribution_ratio(
                models["MLP"]["acc"]["overall"], models["LP"]["acc"]["overall"], models["GNN"]["acc"]["overall"]
            )
        except ValueError:
            fcr = None
    return {
        "seed": seed,
        "config": config.to_dict(),
        "fcr": fcr,
        "models": models,
        "trained": trained,
        "student_teacher": student_teacher,
        **({"retrieval": retrieval} if retrieval is not None else {}),
    }


def train_student(
    data: Data,
    config: ColdBrewConfig,
    teacher_embeddings: Tensor,
    teacher_logits: Tensor,
    *,
    seed: int = 0,
    on_epoch: EpochCallback | None = None,
    student_fit: Mapping[str, Any] | None = None,
) -> tuple[ColdBrewStudent, dict]:
    """One Cold Brew student of ``config`` on the split ``data``, distilling a trained teacher's ``[N, d]``
    embeddings and ``[N, C]`` logits (seeded with ``stage_seed(seed, "ColdBrew")``). Candidates: the nodes with a
    neighbourhood; MLP1's regression and the distillation: those minus validation nodes. Returns ``(student,
    fit history)`` (:meth:`ColdBrewStudent.fit`)."""
    x, y = data.x, data.y
    num_classes = teacher_logits.size(1)
    has_neighbourhood = node_degree(data.edge_index, data.num_nodes) > 0
    fit_mask = has_neighbourhood & ~data.val_mask
    seed_everything(stage_seed(seed, "ColdBrew"))
    student = ColdBrewStudent(
        x.size(1),
        teacher_embeddings.size(1),
        num_classes,
        hidden_channels=config.student_hidden,
        num_layers=config.student_layers,
        dropout=config.student_dropout,
        k=config.k,
        temperature=config.temperature,
        metric=config.metric,
        query=config.query,
        retrieval_dim=config.retrieval_dim,
        feature_head=config.feature_head,
    ).to(x.device)
    history = student.fit(
        x,
        y,
        teacher_embeddings,
        train_mask=data.train_mask,
        val_mask=data.val_mask,
        candidate_mask=has_neighbourhood,
        regress_mask=fit_mask,
        teacher_logits=teacher_logits,
        kd_mask=fit_mask,
        kd_weight=config.kd_weight,
        mlp1_folds=config.mlp1_folds,
        tcm_weight=config.mlp1_tcm_weight,
        tcm_margins=(config.mlp1_tcm_margin_plus, config.mlp1_tcm_margin_minus),
        epochs=config.epochs,
        lr=config.student_lr,
        weight_decay=config.student_weight_decay,
        patience=config.patience,
        stage="ColdBrew",
        on_epoch=on_epoch,
        **(student_fit or {}),
    )
    return student, history


def _pick_teacher(choice: str, models: Mapping[str, dict[str, Any]]) -> str:
    """The student's teacher: ``choice``, or for ``"auto"`` the trained one of
    GNN+SE / GNN with the higher validation accuracy (ties go to GNN+SE)."""
    if choice != "auto":
        return choice
    trained = [m for m in ("GNN+SE", "GNN") if m in models]
    return max(trained, key=lambda m: (models[m]["val_acc"], m == "GNN+SE"))
