"""Training loop, evaluation and method registry for graph-relational domain adaptation.

``fit(method, dataset, config, seed)`` trains one method with one seed and returns per-domain metrics. Batches hold
``batch_size`` training samples from *every* domain (each domain cycles through its own shuffled samples; an
epoch is ``ceil(largest domain / batch_size)`` steps). No target label is read during training, and no model
selection uses them: the reported numbers are those of the last epoch.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .baselines import DANN, SourceOnly
from .graph import spectral_embedding
from .method import GRDA, AdaptationMethod
from .models import init_normal_

METHODS: dict[str, type[AdaptationMethod]] = {"grda": GRDA, "dann": DANN, "source-only": SourceOnly}


@dataclass
class AdaptConfig:
    """Hyper-parameters of one adaptation run (defaults: DG-15; see ``pipelines/adapt.py`` for the presets)."""

    hidden: int = 128  # width of z; the encoder's mixing layers are 2x wider (official: 512)
    encoder_layers: int = 4  # mixing layers after [embed(x), embed(u)] (official: 4)
    predictor_layers: int = 3  # official: 3
    disc_layers: int = 4  # discriminator depth (official: 6)
    disc_radius: float | None = None  # GRDA codes rescaled to this norm (no d = 0 saddle); None: official
    disc_dim: int = 2  # width of the graph discriminator's code d (official nd_out: 2)
    epochs: int = 200
    batch_size: int = 10  # samples per domain per step (official: 10 DG, 16 TPT-48)
    lr: float = 1e-4  # encoder + predictor (Adam, betas 0.9/0.999 as official)
    lr_d: float = 1e-3  # discriminator (official: 1e-4; see docs/grda.md)
    lr_half_life: float = 40.0  # epochs per halving of both learning rates (official: 100 of 500 epochs)
    weight_decay: float = 0.0
    lambda_adv: float = 1.0  # adversary weight lambda (official DG-15: 1, DG-60: 0.5)
    d_steps: int = 1  # discriminator updates per encoder update (GRDA)
    sample_v: int = 10  # domains per sampled subgraph (official DG-15: 10, DG-60: 30, TPT-48: 27)
    dropout: float = 0.0
    init_std: float | None = None  # N(0, std) encoder/predictor weights (official: 0.01); None: PyTorch's init
    init_disc: bool = False  # also give the discriminator the N(0, init_std) init (official: every net)
    disc_negative_slope: float = 0.2  # LeakyReLU slope inside the discriminators (official: 0, i.e. ReLU)
    disc_loss_scale: float = 1.0  # GRDA's reconstruction loss times this (official: x num_domains)
    official_update: bool = False  # the official shared-graph step: D's gradient is (1 - lambda) dL_D
    paired_batches: bool = False  # slot b of every domain = the same within-domain index (official loader)
    pred_log_eps: float = 0.0  # classification loss on log(softmax + eps) (official PredNet: 1e-4)
    embedding: str = "spectral"  # "spectral" (Laplacian eigenmaps) or "given" (the dataset's g_encode, if any)
    embedding_dim: int = 2
    eval_every: int = 10  # epochs between (logged, never used for selection) evaluations

    @classmethod
    def from_dict(cls, values: dict) -> AdaptConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown AdaptConfig key(s) {unknown}; valid keys: {sorted(names)}")
        values = dict(values)
        for f in dataclasses.fields(cls):  # command-line strings: "true"/"false" for flags, "none" for optionals
            v = values.get(f.name)
            if not isinstance(v, str):
                continue
            if isinstance(f.default, bool):
                if v.lower() not in ("true", "false"):
                    raise ValueError(f"AdaptConfig.{f.name} expects true or false, got {v!r}")
                values[f.name] = v.lower() == "true"
            elif v.lower() in ("none", "null") and f.default is None:
                values[f.name] = None
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class AdaptResult:
    """Outcome of one run: the metric per domain (percent accuracy or MSE) and its target/source means."""

    method: str
    seed: int
    metric: str
    per_domain: list[float]
    overall: float  # mean over target domains
    source: float  # mean over source domains
    seconds: float
    history: list[dict] = field(default_factory=list)


def build_method(name: str, dataset, cfg: AdaptConfig, rng: np.random.Generator | None = None) -> AdaptationMethod:
    """Instantiate ``name`` (one of :data:`METHODS`) for ``dataset``."""
    if name not in METHODS:
        raise ValueError(f"unknown adaptation method {name!r}; choose one of {sorted(METHODS)}")
    emb = domain_embedding(dataset, cfg)
    model = METHODS[name](
        dataset.x.shape[1],
        dataset.out_dim,
        torch.from_numpy(emb),
        torch.from_numpy(dataset.adjacency),
        torch.from_numpy(dataset.source),
        dataset.task,
        cfg,
        rng=rng,
    )
    if cfg.init_std is not None:  # by default the discriminator keeps PyTorch's init: at d = 0 its loss has a saddle
        parts = [model.encoder, model.predictor]
        if cfg.init_disc and hasattr(model, "discriminator"):
            parts.append(model.discriminator)
        for part in parts:
            init_normal_(part, cfg.init_std)
    return model


def domain_embedding(dataset, cfg: AdaptConfig) -> np.ndarray:
    """The ``[D, k]`` domain-node embedding: the dataset's own (``given``) or Laplacian eigenmaps."""
    if cfg.embedding not in ("given", "spectral"):
        raise ValueError(f"unknown embedding {cfg.embedding!r}; choose one of ['given', 'spectral']")
    if cfg.embedding == "given" and dataset.domain_embedding is not None:
        return np.asarray(dataset.domain_embedding, dtype=np.float32)
    return spectral_embedding(dataset.adjacency, cfg.embedding_dim)


def _epoch_indices(
    pools: list[np.ndarray], steps: int, batch: int, rng: np.random.Generator, paired: bool = False
) -> np.ndarray:
    """``[D, steps * batch]`` sample indices: each domain walks through fresh permutations of its pool.

    ``paired``: one shared permutation of positions ``0..max(len(pool))-1``; domain ``d`` takes ``pool[pos % len]``,
    so slot ``b`` of every domain holds the sample at the same position of its pool (the official GRDA loader,
    ``SeqToyDataset``). Whenever the domains' samples are stored in the same label order, as in DG-15/DG-60 (50
    samples of class 0, then 50 of class 1, in every domain), this pairs same-class samples across domains in every
    discriminator pair, i.e. it hands GRDA's pairwise adversary the target labels through the batch layout.
    """
    need = steps * batch
    if paired:
        size = max(len(p) for p in pools)
        reps = math.ceil(need / size)
        pos = np.concatenate([rng.permutation(size) for _ in range(reps)])[:need]
        return np.stack([pool[pos % len(pool)] for pool in pools])
    rows = []
    for pool in pools:
        reps = math.ceil(need / len(pool))
        rows.append(np.concatenate([rng.permutation(pool) for _ in range(reps)])[:need])
    return np.stack(rows)


@torch.no_grad()
def evaluate(model: AdaptationMethod, dataset, chunk: int = 65536) -> np.ndarray:
    """Per-domain metric on the evaluation samples: accuracy in percent, or the squared error summed over the
    outputs and averaged over samples (the TPT-48 convention of the GRDA/VDI code)."""
    model.eval()
    rows = np.flatnonzero(dataset.eval_mask)
    x = torch.from_numpy(dataset.x[rows])
    dom = torch.from_numpy(dataset.domain[rows])
    out = torch.cat([model(x[i : i + chunk], dom[i : i + chunk]) for i in range(0, len(rows), chunk)])
    if dataset.task == "classification":
        score = (out.argmax(-1).numpy() == dataset.y[rows]).astype(np.float64) * 100.0
    else:
        score = ((out.numpy() - dataset.y[rows]) ** 2).sum(-1).astype(np.float64)
    d = dataset.num_domains
    totals = np.bincount(dataset.domain[rows], weights=score, minlength=d)
    counts = np.bincount(dataset.domain[rows], minlength=d)
    model.train()
    return totals / counts


def summarize(per_domain: np.ndarray, source: np.ndarray) -> tuple[float, float]:
    """``(mean over target domains, mean over source domains)``."""
    return float(per_domain[~source].mean()), float(per_domain[source].mean())


def fit(
    method: str,
    dataset,
    cfg: AdaptConfig | None = None,
    seed: int = 0,
    on_epoch: Callable[[int, dict], None] | None = None,
    progress: bool = False,
) -> AdaptResult:
    """Train ``method`` on ``dataset`` with ``seed``; ``on_epoch(epoch, metrics)`` receives the mean losses of
    every epoch and, every ``eval_every`` epochs, ``overall``/``source`` metrics (for logging only)."""
    cfg = cfg or AdaptConfig()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_method(method, dataset, cfg, rng=rng)
    optimizers = model.configure_optimizers()
    gamma = 0.5 ** (1.0 / cfg.lr_half_life)
    schedulers = [torch.optim.lr_scheduler.ExponentialLR(o, gamma=gamma) for o in optimizers]

    x = torch.from_numpy(dataset.x)
    y = torch.from_numpy(dataset.y)
    pools = [np.flatnonzero(dataset.train_mask & (dataset.domain == i)) for i in range(dataset.num_domains)]
    steps = math.ceil(max(len(p) for p in pools) / cfg.batch_size)
    domain = torch.arange(dataset.num_domains)[:, None].expand(-1, cfg.batch_size)

    history, start = [], time.perf_counter()
    model.train()
    for epoch in range(cfg.epochs):
        idx = torch.from_numpy(_epoch_indices(pools, steps, cfg.batch_size, rng, cfg.paired_batches))
        sums: dict[str, float] = {}
        for s in range(steps):
            b = idx[:, s * cfg.batch_size : (s + 1) * cfg.batch_size]
            for k, v in model.training_step(x[b], y[b], domain).items():
                sums[k] = sums.get(k, 0.0) + v
        for sched in schedulers:
            sched.step()
        metrics = {k: v / steps for k, v in sums.items()}
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
            metrics["overall"], metrics["source"] = summarize(evaluate(model, dataset), dataset.source)
        history.append(metrics)
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        if progress and "overall" in metrics:
            print(
                f"[{method} seed {seed}] epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()),
                flush=True,
            )
    per_domain = evaluate(model, dataset)
    overall, source = summarize(per_domain, dataset.source)
    return AdaptResult(
        method=method,
        seed=seed,
        metric=dataset.metric,
        per_domain=per_domain.tolist(),
        overall=overall,
        source=source,
        seconds=time.perf_counter() - start,
        history=history,
    )
