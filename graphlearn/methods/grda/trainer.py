"""Training loop, evaluation and method registry for graph-relational domain adaptation.

``fit(method, dataset, config, seed)`` trains one method with one seed and returns per-domain metrics. Batches hold
``batch_size`` training samples from *every* domain (each domain cycles through its own shuffled samples; an
epoch is ``ceil(largest domain / batch_size)`` steps). No target label is read during training, and no model
selection uses them: the reported numbers are those of the last epoch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from graphlearn.config import Config, param
from graphlearn.training import EpochCallback, fit_epochs, seed_everything

from .baselines import DANN, SourceOnly
from .graph import spectral_embedding
from .method import GRDA, AdaptationMethod
from .models import init_normal_

METHODS: dict[str, type[AdaptationMethod]] = {"grda": GRDA, "dann": DANN, "source-only": SourceOnly}


@dataclass
class AdaptConfig(Config):
    """Hyper-parameters of one adaptation run (defaults: DG-15; see ``pipelines/adapt.py`` for the presets).
    A :class:`graphlearn.config.Config`: ``from_dict`` rejects unknown keys, converts strings, checks ranges."""

    hidden: int = param(128, min=1)  # width of z; the encoder's mixing layers are 2x wider (official: 512)
    encoder_layers: int = param(4, min=1)  # mixing layers after [embed(x), embed(u)] (official: 4)
    predictor_layers: int = param(3, min=1)  # official: 3
    disc_layers: int = param(4, min=1)  # discriminator depth (official: 6)
    # GRDA codes rescaled to this norm (no d = 0 saddle); None: official
    disc_radius: float | None = param(None, gt=0.0)
    disc_dim: int = param(2, min=1)  # width of the graph discriminator's code d (official nd_out: 2)
    epochs: int = param(200, min=1)
    batch_size: int = param(10, min=1)  # samples per domain per step (official: 10 DG, 16 TPT-48)
    lr: float = param(1e-4, gt=0.0)  # encoder + predictor (Adam, betas 0.9/0.999 as official)
    lr_d: float = param(1e-3, gt=0.0)  # discriminator (official: 1e-4; see docs/grda.md)
    lr_half_life: float = param(40.0, gt=0.0)  # epochs per halving of both learning rates (official: 100 of 500 epochs)
    weight_decay: float = param(0.0, min=0.0)
    lambda_adv: float = param(1.0, min=0.0)  # adversary weight lambda (official DG-15: 1, DG-60: 0.5)
    d_steps: int = param(1, min=1)  # discriminator updates per encoder update (GRDA)
    sample_v: int = param(10, min=2)  # domains per sampled subgraph (official DG-15: 10, DG-60: 30, TPT-48: 27)
    dropout: float = param(0.0, min=0.0, max=1.0)
    # N(0, std) encoder/predictor weights (official: 0.01); None: PyTorch's init
    init_std: float | None = param(None, gt=0.0)
    init_disc: bool = False  # also give the discriminator the N(0, init_std) init (official: every net)
    disc_negative_slope: float = 0.2  # LeakyReLU slope inside the discriminators (official: 0, i.e. ReLU)
    disc_loss_scale: float = param(1.0, min=0.0)  # GRDA's reconstruction loss times this (official: x num_domains)
    official_update: bool = False  # the official shared-graph step: D's gradient is (1 - lambda) dL_D
    paired_batches: bool = False  # slot b of every domain = the same within-domain index (official loader)
    pred_log_eps: float = param(0.0, min=0.0)  # classification loss on log(softmax + eps) (official PredNet: 1e-4)
    # "spectral" (Laplacian eigenmaps) or "given" (the dataset's g_encode, if any)
    embedding: str = param("spectral", choices=("spectral", "given"))
    embedding_dim: int = param(2, min=1)
    eval_every: int = param(10, min=1)  # epochs between (logged, never used for selection) evaluations


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
    model: AdaptationMethod | None = field(default=None, repr=False, compare=False)  # the trained model (eval mode)


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
    on_epoch: EpochCallback | None = None,
    progress: bool = False,
) -> AdaptResult:
    """Train ``method`` on ``dataset`` with ``seed`` through :func:`graphlearn.training.fit_epochs`.

    ``on_epoch(method, epoch, metrics)`` (epoch from 1) receives the mean losses of every epoch and, every
    ``eval_every`` epochs and at the last, ``overall``/``source`` metrics (for logging only); ``progress`` shows a
    tqdm bar over epochs."""
    cfg = cfg or AdaptConfig()
    seed_everything(seed)
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

    start = time.perf_counter()
    model.train()

    def train_epoch(epoch: int) -> dict[str, float]:
        idx = torch.from_numpy(_epoch_indices(pools, steps, cfg.batch_size, rng, cfg.paired_batches))
        sums: dict[str, float] = {}
        for s in range(steps):
            b = idx[:, s * cfg.batch_size : (s + 1) * cfg.batch_size]
            for k, v in model.training_step(x[b], y[b], domain).items():
                sums[k] = sums.get(k, 0.0) + v
        for sched in schedulers:
            sched.step()
        return {k: v / steps for k, v in sums.items()}

    def evaluate_epoch(epoch: int) -> dict[str, float]:
        # logged only, never used for selection (the last epoch is reported)
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
            overall, source = summarize(evaluate(model, dataset), dataset.source)
            return {"overall": overall, "source": source}
        return {}

    history = fit_epochs(
        train_epoch, epochs=cfg.epochs, evaluate=evaluate_epoch, stage=method, on_epoch=on_epoch, progress=progress
    ).curve
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
        model=model.eval(),
    )
