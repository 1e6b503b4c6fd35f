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

from graphlearn import sparse
from graphlearn.config import Config, param
from graphlearn.data.splits import group_masks, node_degree, val_group_masks
from graphlearn.distributed import Context
from graphlearn.evaluation import accuracy
from graphlearn.training import FULL_BATCH_ROWS, EpochCallback, seed_everything, stage_seed

from .fcr import feature_contribution_ratio, label_propagation
from .glnn import train_glnn, train_mlp
from .neighbors import METRICS
from .retrieval import FEATURE_VIEWS
from .student import QUERIES, ColdBrewStudent
from .teacher import CONVS, ColdBrewTeacher, train_teacher
from .tune import CANDIDATE

MODELS = ("GNN", "GNN+SE", "MLP", "GLNN", "LP", "ColdBrew")
STUDENT_TEACHERS = ("auto", "GNN+SE", "GNN")
#: How fit_blend scores a weight pair on a validation group: accuracy (%), or the negative mean log-likelihood of the
#: true labels under the blended probabilities (a proper scoring rule: it ranks pairs by every node's probability of
#: its label, not only by which side of the argmax it falls, so a few dozen nodes choose less by chance).
BLEND_CRITERIA = ("accuracy", "nll")


#: The ablation rows of a student whose blend was chosen (fit_blend): the same student without its label memory ...
NO_MEMORY = "ColdBrew-no-memory"
#: ... and the student without any blend: MLP2 alone (or with its fixed feature head), as before the blends.
PLAIN = "ColdBrew-plain"


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
    # The student's label memory (ColdBrewStudent's memory_weight): the blend weights tried after training, each
    # chosen on the matching validation group (docs/protocols.md): for nodes without edges on the cold-start
    # validation set, for nodes with edges on the validation nodes that keep theirs; ties go to the smaller weight,
    # so 0 (the student alone) is kept unless a weight does better. (0.0,) or (): off.
    memory_weights: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
    # With feature_head 0: the feature head's weights tried after training, jointly with memory_weights and by the
    # same rule (the head is then always trained; a weight chosen at 0 for both groups removes it). (0.0,) or ():
    # no head unless feature_head sets a fixed weight.
    feature_head_weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    # How the no-edge pair is scored on the cold-start validation set: "nll" (the true labels' mean log-likelihood,
    # which reads every node's probability of its label: the set is a few dozen nodes, where one node moves accuracy
    # by two points) or "accuracy". The pair for nodes with edges is chosen by accuracy, on hundreds of nodes.
    # Measured: benchmarks/results/coldbrew.md, fourteenth session.
    blend_isolated_criterion: str = param("nll", choices=BLEND_CRITERIA)
    # The feature head as an ensemble of this many MLP3s (each its own initial weights and dropout draws; their class
    # probabilities averaged): distilled MLPs disagree most on nodes without edges, where averaging helps.
    feature_heads: int = param(1, min=1)
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
    # Mini-batches for the feature-only models (MLP, GLNN, the student's MLP1 / MLP2 / feature head): a model whose
    # loss reads more than full_batch_rows rows trains in passes of steps of about batch_size rows (an epoch is then
    # one pass); the others, and every graph up to 32768 training rows, full-batch as before. 0: always full batch.
    batch_size: int = param(4096, min=0)
    full_batch_rows: int = param(FULL_BATCH_ROWS, min=0)

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
        for key in ("memory_weights", "feature_head_weights"):
            bad = [w for w in getattr(self, key) if not 0.0 <= float(w) <= 1.0]
            if bad:
                raise ValueError(f"{key} must lie in [0, 1] (got {bad[0]!r} in {list(getattr(self, key))})")
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
    parallel: Context | None = None,
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
        parallel (distributed.Context, optional): under ``torchrun``, the feature-only models (MLP, GLNN, the
            student's MLPs and feature head, the search's candidates) train data-parallel over the job's ranks
            (:mod:`graphlearn.distributed`); the graph models (the teachers, LP) and the retrieval head are trained
            whole, and identically, on every rank. Every rank must call with the same arguments. (default:
            ``None``: one process)

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
        batch_size=config.batch_size,
        full_batch_rows=config.full_batch_rows,
        parallel=parallel,
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

    student_teacher, retrieval, blend = None, None, None
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
            parallel=parallel,
        )
        blend = fit_blend(
            student,
            data,
            logits[student_teacher],
            config.memory_weights,
            _head_grid(config),
            (config.blend_isolated_criterion, "accuracy"),
        )
        out = student.logits(x, self_index=torch.arange(data.num_nodes, device=x.device))
        record("ColdBrew", out, history["mlp2"])
        if blend is not None:  # the ablation rows: the same student without its label memory, without any blend
            ablation = blend.pop("ablation")
            record(NO_MEMORY, ablation["no_memory"], history["mlp2"])
            record(PLAIN, ablation["plain"], history["mlp2"])
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
        cand, _ = train_student(data, cfg, emb, logits[name], seed=seed, parallel=parallel)
        fit_blend(
            cand, data, logits[name], cfg.memory_weights, _head_grid(cfg), (cfg.blend_isolated_criterion, "accuracy")
        )
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
        **({"blend": blend} if blend is not None else {}),
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
    parallel: Context | None = None,
) -> tuple[ColdBrewStudent, dict]:
    """One Cold Brew student of ``config`` on the split ``data``, distilling a trained teacher's ``[N, d]``
    embeddings and ``[N, C]`` logits (seeded with ``stage_seed(seed, "ColdBrew")``). Candidates: the nodes with a
    neighbourhood; MLP1's regression and the distillation: those minus validation nodes. Returns ``(student,
    fit history)`` (:meth:`ColdBrewStudent.fit`; with ``parallel``, trained data-parallel under torchrun). With
    ``feature_head`` 0 and a ``feature_head_weights`` grid the student is trained with a feature head at weight 1
    until :func:`fit_blend` chooses its weights."""
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
        # a fixed head weight, or a head trained for fit_blend to weigh (1.0 until then)
        feature_head=config.feature_head or (1.0 if any(w > 0 for w in config.feature_head_weights) else 0.0),
        feature_heads=config.feature_heads,
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
        batch_size=config.batch_size,
        full_batch_rows=config.full_batch_rows,
        parallel=parallel,
        **(student_fit or {}),
    )
    return student, history


def _head_grid(config: ColdBrewConfig) -> tuple[float, ...]:
    """The feature-head weights fit_blend chooses from: none with a fixed ``feature_head``."""
    return () if config.feature_head else tuple(config.feature_head_weights)


def fit_blend(
    student: ColdBrewStudent,
    data: Data,
    teacher_logits: Tensor,
    memory_weights: Sequence[float] = (),
    head_weights: Sequence[float] = (),
    criterion: str | tuple[str, str] = "accuracy",
) -> dict[str, Any] | None:
    """Choose how a trained ``student`` blends its parts, per group, on validation nodes (docs/protocols.md): MLP2
    (the virtual-neighbour branch), the feature head (MLP3, when the student was trained with one and
    ``head_weights`` has a weight above 0; pass none for a student with a fixed head) and the label memory
    (:meth:`ColdBrewStudent.set_memory`: the teacher's class distributions, the true label on training nodes, over
    the same virtual neighbours; when ``memory_weights`` has a weight above 0). Class probabilities ``(1 - a) *
    ((1 - w) * p_MLP2 + w * p_head) + a * p_memory``: the pair ``(w, a)`` of the grid ``head_weights x
    memory_weights`` for nodes without edges is the one with the best score on the cold-start validation set
    (``val_isolated_mask``; without one, validation nodes with no edge; without those, all validation nodes), the
    pair for nodes with edges on the validation nodes that keep theirs (or all of them). ``criterion`` is the score
    (:data:`BLEND_CRITERIA`), one for both groups or ``(no-edge group, with-edge group)``. Ties go to the smaller
    memory weight, then the smaller head weight, so a part is kept only if it does better; a part chosen at 0 for
    both groups is removed from the student (saved and answering exactly as one without it). Test labels are never
    read.

    Returns ``None`` when nothing is tried, else ``{"feature_head", "feature_head_linked", "memory_weight",
    "memory_weight_linked", "val": {group: {"head=<w> memory=<a>": score}}, "ablation": {"plain": logits of
    MLP2 alone (or the student with its fixed head), "no_memory": logits with the chosen head weights and no
    memory}}``."""
    criteria = dict(zip(("isolated", "linked"), (criterion, criterion) if isinstance(criterion, str) else criterion))
    for c in criteria.values():
        if c not in BLEND_CRITERIA:
            raise ValueError(f"criterion must be one of {BLEND_CRITERIA} (got {c!r})")
    chosen_head = student.mlp3 is not None and any(float(w) > 0 for w in head_weights)
    heads = sorted({float(w) for w in head_weights} | {0.0}) if chosen_head else [0.0]
    mems = sorted({float(w) for w in memory_weights} | {0.0})
    if (len(heads) == 1 and len(mems) == 1) or not bool(data.val_mask.any()):
        return None
    x, y, n = data.x, data.y, data.num_nodes
    self_index = torch.arange(n, device=x.device)
    if chosen_head:
        student.feature_head = student.feature_head_linked = 0.0  # MLP2 alone (the head kept for its own forward)
        with torch.no_grad():
            student.eval()
            p_head = student._head_probs(sparse.model_input(x))
    if student.has_memory:  # chosen again: MLP2's own numbers without the memory chosen before
        student.clear_memory()
    p_own = torch.softmax(student.logits(x, self_index=self_index), dim=-1)
    labels = torch.softmax(teacher_logits.detach().float(), dim=-1)
    labels[data.train_mask] = torch.nn.functional.one_hot(y[data.train_mask], labels.size(1)).to(labels.dtype)
    p_mem = None
    if len(mems) > 1:
        student.set_memory(labels, 1.0, 1.0)
        p_mem = student.memory_probs(x, self_index=self_index)

    def probs(w: float, a: float) -> Tensor:
        p = p_own if w == 0 else (1 - w) * p_own + w * p_head
        return p if a == 0 else (1 - a) * p + a * p_mem

    linked = node_degree(data.edge_index, n) > 0
    val = data.val_mask
    cold = getattr(data, "val_isolated_mask", None)
    cold = cold if cold is not None and bool(cold.any()) else val & ~linked
    kept = val & linked
    groups = {"isolated": cold if bool(cold.any()) else val, "linked": kept if bool(kept.any()) else val}
    scores: dict[str, dict[str, float]] = {}
    best: dict[str, tuple[float, float]] = {}
    no_mem: dict[str, float] = {}
    for group, mask in groups.items():
        acc = {(w, a): _blend_score(criteria[group], y, probs(w, a), mask) for w in heads for a in mems}
        scores[group] = {f"head={w:g} memory={a:g}": v for (w, a), v in acc.items()}
        best[group] = max(acc, key=lambda wa: (acc[wa], -wa[1], -wa[0]))
        no_mem[group] = max(heads, key=lambda w: (acc[(w, 0.0)], -w))

    def by_row(pick) -> Tensor:
        rows = torch.where(linked.unsqueeze(-1), pick("linked"), pick("isolated"))
        return rows.clamp_min(1e-30).log()

    ablation = {
        "plain": p_own.clamp_min(1e-30).log(),
        "no_memory": by_row(lambda g: probs(no_mem[g], 0.0)),
    }
    (w_iso, a_iso), (w_lnk, a_lnk) = best["isolated"], best["linked"]
    if chosen_head:
        student.set_feature_head(w_iso, w_lnk)
    student.set_memory(labels, a_iso, a_lnk)
    return {
        "feature_head": student.feature_head,
        "feature_head_linked": student.feature_head_linked,
        "memory_weight": a_iso,
        "memory_weight_linked": a_lnk,
        "val": scores,
        "ablation": ablation,
    }


def _blend_score(criterion: str, y: Tensor, p: Tensor, mask: Tensor) -> float:
    """Higher is better: accuracy (%) or minus the mean negative log-likelihood over ``mask``."""
    if criterion == "accuracy":
        return accuracy(y, p.argmax(-1), mask)
    return float(p[mask].gather(1, y[mask].unsqueeze(1)).clamp_min(1e-30).log().mean())


def _pick_teacher(choice: str, models: Mapping[str, dict[str, Any]]) -> str:
    """The student's teacher: ``choice``, or for ``"auto"`` the trained one of
    GNN+SE / GNN with the higher validation accuracy (ties go to GNN+SE)."""
    if choice != "auto":
        return choice
    trained = [m for m in ("GNN+SE", "GNN") if m in models]
    return max(trained, key=lambda m: (models[m]["val_acc"], m == "GNN+SE"))
