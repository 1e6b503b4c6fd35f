"""``graphlearn pretrain``: multi-scale neighbourhood-prediction pretraining (GIANT-XRT style).

    graphlearn pretrain --dataset cora
    graphlearn train --dataset cora --model mlp,sage --features pretrained:<run id>

Builds the PIFA label tree, trains the encoder coarse to fine, and logs the node features
(``features/features.npz`` + ``features.json``) and the encoder (``model/encoder.pt``) to one MLflow run. The
features work for every model (``--features pretrained:<run id>`` or the ``.npz`` path), and the encoder embeds
nodes never seen in pretraining from their features alone.

Cold start: by default the edges of the cold-start isolated nodes (``ColdStartSplit(seed=--split-seed)``) are removed
before pretraining, so no neighbourhood the evaluation hides is learnt; ``train``/``coldbrew`` then reuse that split
(the seed is recorded in the features' metadata). ``--holdout none`` pretrains on the whole graph, as the paper does.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import defaultdict
from pathlib import Path

import mlflow

from graphlearn import distributed, tracking
from graphlearn.config import parse_overrides
from graphlearn.data.protocols import apply_protocol
from graphlearn.features import save_features
from graphlearn.methods.giant import GiantConfig, pretrain
from graphlearn.methods.giant.export import save_encoder
from pipelines import _common
from pipelines.features import ARTIFACT_DIR

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    _common.add_common_arguments(parser, default_runs=None)
    parser.add_argument(
        "--holdout",
        choices=("coldstart", "none"),
        default="coldstart",
        help="coldstart: drop the isolated nodes' edges before pretraining; none: use every edge",
    )
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the cold-start split held out")
    _common.add_set_argument(parser, "GiantConfig", "--set epochs=5 --set branching=8")


def probe_features(features, graph) -> dict | None:
    """A linear probe of ``features`` (logistic regression on the train nodes' labels, scored on validation nodes):
    ``{"val_acc", "standardised_acc", "majority_acc", "spread", "degenerate"}`` (accuracies in percent; ``val_acc`` on
    the features as given, ``standardised_acc`` after per-column standardisation), or ``None`` without labelled
    train/val nodes.
    ``degenerate``: the probe is within 1 point of always answering the majority training class, or the embedding
    has collapsed (mean per-dimension std below 1e-6 of its mean magnitude). Reads train/val labels only."""
    import numpy as np  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    y = getattr(graph, "y", None)
    train, val = getattr(graph, "train_mask", None), getattr(graph, "val_mask", None)
    if y is None or train is None or val is None:
        return None
    y = y.numpy()
    train, val = train.numpy() & (y >= 0), val.numpy() & (y >= 0)
    if train.sum() < 2 or val.sum() < 1 or len(np.unique(y[train])) < 2:
        return None
    x = features.detach().cpu().numpy().astype(np.float64)
    spread = float(x.std(0).mean() / (np.abs(x).mean() + 1e-12))

    def score(train_x, val_x) -> float:
        clf = LogisticRegression(max_iter=300).fit(train_x, y[train])
        return 100.0 * float(clf.score(val_x, y[val]))

    # as given (what a downstream model sees) and standardised (whether any signal is there at all)
    val_acc = score(x[train], x[val])
    scaler = StandardScaler().fit(x[train])
    standardised_acc = score(scaler.transform(x[train]), scaler.transform(x[val]))
    classes, counts = np.unique(y[train], return_counts=True)
    majority_acc = 100.0 * float((y[val] == classes[counts.argmax()]).mean())
    degenerate = val_acc <= majority_acc + 1.0 or spread < 1e-6
    return {"val_acc": val_acc, "standardised_acc": standardised_acc, "majority_acc": majority_acc, "spread": spread,
            "degenerate": degenerate}  # fmt: skip


def run(args) -> dict:
    with distributed.session() as ctx:
        return _run(args, ctx)


def _run(args, ctx: distributed.Context) -> dict:
    """One pretraining job. Under torchrun every rank builds the tree and trains its share of each batch
    (``pretrain(parallel=ctx)``); rank 0 alone tracks, prints and writes."""
    overrides = parse_overrides(args.overrides)
    if args.no_progress or not ctx.is_main:
        overrides.setdefault("progress", False)
    config = GiantConfig.from_dict(overrides)
    ctx.on_main(lambda: _common.check_out(args.out))
    data = _common.load_data(args)
    graph = apply_protocol(data, "coldstart", seed=args.split_seed) if args.holdout == "coldstart" else data
    job = {
        "job": "pretrain",
        "dataset": args.dataset,
        "seed": args.seed,
        "holdout": args.holdout,
        "features": args.features or "raw",
        "feature_norm": _common.feature_norm(args),
        "threads": _common.job_threads(args),
        "split_seed": args.split_seed if args.holdout == "coldstart" else None,
        "giant": config.to_dict(),
    }
    if ctx.parallel:  # the result depends on it (float rounding, dropout streams)
        job["world_size"] = ctx.world_size
    ctx.on_main(lambda: tracking.configure(args.tracking_uri, args.experiment))
    if not ctx.is_main:  # the other ranks train their shares and return rank 0's summary
        pretrain(graph, config, seed=args.seed, parallel=ctx)
        return ctx.broadcast(None)
    curves: dict[str, list] = defaultdict(list)
    name = _common.display_name(args, data)
    tags = {"job": "pretrain", "dataset": name, "protocol": args.holdout}
    with tracking.parent_run(f"pretrain:{name}", job, tags=tags) as run_:
        tracking.log_dataset(data, name, args.dataset)
        result = pretrain(
            graph, config, seed=args.seed, on_epoch=lambda stage, ep, m: curves[stage].append(m), parallel=ctx
        )
        for stage, curve in curves.items():
            tracking.log_curve([{k: v for k, v in m.items() if k != "step"} for m in curve], prefix=f"{stage}.")
        for level, metrics in enumerate(result.level_metrics):
            tracking.log_metrics({f"level{level}.{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
        tracking.log_metrics({f"time.{k}": v for k, v in result.timings.items()})
        meta = result.meta(dataset=getattr(data, "name", args.dataset))
        meta.update(edges_seen=args.holdout, coldstart_split_seed=job["split_seed"], mlflow_run_id=run_.info.run_id)
        tmp = None if args.out else tempfile.TemporaryDirectory(prefix="graphlearn-pretrain-")
        folder = Path(args.out) if args.out else Path(tmp.name)
        folder.mkdir(parents=True, exist_ok=True)
        embedded = result.embed(data.x)
        probe = probe_features(embedded, graph)
        if probe is not None:
            meta["probe"] = probe
            tracking.log_metrics({f"probe.{k}": float(v) for k, v in probe.items()})
            if probe["degenerate"]:
                log.warning(
                    "the pretrained features look DEGENERATE: a linear probe reaches %.1f %% on validation nodes "
                    "(%.1f %% after standardising them), the majority class alone %.1f %% (embedding spread %.3g). "
                    "Train longer (--set epochs=...) or see docs/giant.md for small-graph settings",
                    probe["val_acc"],
                    probe["standardised_acc"],
                    probe["majority_acc"],
                    probe["spread"],
                )
        feats = save_features(folder / "features.npz", embedded, meta)
        encoder = save_encoder(folder / "encoder.pt", result)
        tracking.log_file(feats, ARTIFACT_DIR)
        tracking.log_file(feats.with_suffix(".json"), ARTIFACT_DIR)
        tracking.log_file(encoder, "model")
        if tmp is not None:  # the files live on as the run's artifacts
            tmp.cleanup()
    summary = {
        "run_id": run_.info.run_id,
        "features": f"pretrained:{run_.info.run_id}",
        "path": str(feats) if args.out else None,
        "dim": meta["dim"],
        "num_nodes": meta["num_nodes"],
        "tree": meta["tree"],
        "level_metrics": result.level_metrics,
        "probe": meta.get("probe"),
        "timings": result.timings,
    }
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(f"pretrained {meta['num_nodes']} nodes -> {meta['dim']}-d features; label tree levels {meta['tree']}")
        for level, m in enumerate(result.level_metrics):
            print(f"  level {level}: " + ", ".join(f"{k}={v:.3f}" for k, v in m.items() if isinstance(v, float)))
        print(f"use with: graphlearn train --dataset {args.dataset} --features pretrained:{run_.info.run_id}")
        print(f"MLflow run {run_.info.run_id} ({mlflow.get_tracking_uri()})")
    return ctx.broadcast(summary)


if __name__ == "__main__":
    _common.script_main("pretrain")
