"""``graphlearn train``: baselines under the OGB protocol, per degree group, tracked in MLflow.

    graphlearn train --dataset cora --model gcn --runs 10
    graphlearn train --dataset chameleon --model mlp,gcn,sage,gat,sign --protocol coldstart --json

One parent MLflow run per invocation (resolved config, aggregates, results table, plots, split) and one nested
run per model and seed (per-epoch metrics with ``step=epoch``). Each finished (model, seed) is also kept in the
parent run (``seeds/<model>/seed<S>.{json,npz}``, with the model at its selected epoch as a graphlearn model file,
``seeds/<model>/seed<S>.pt``, loaded with ``graphlearn.model_io.load``), and the split is logged before the first
seed, so ``--resume <parent run id>`` continues a killed job and a finished seed keeps its results, model and split.

Under ``torchrun`` (``graphlearn.distributed``) the row-independent models (mlp, sign, sgc) train data-parallel:
every rank loads the data and trains on its share of the training nodes; rank 0 alone opens the MLflow runs, decides
``--resume`` (its decision broadcast), logs, prints and writes ``--out``.

    torchrun --nproc-per-node 2 --no-python graphlearn train --dataset synthetic:2000 --model mlp,sign
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
from functools import partial
from pathlib import Path

import mlflow
import numpy as np

from graphlearn import distributed, model_io, tracking
from graphlearn.data.protocols import PROTOCOLS, apply_protocol
from graphlearn.evaluation import make_results, run_protocol
from graphlearn.evaluation.protocol import ProtocolResult
from graphlearn.models import MODELS, build_model, default_hparams, split_hparams
from pipelines import _common

log = logging.getLogger(__name__)

ALL_MODELS = ("mlp", "gcn", "sage", "gat", "sign")
OVERRIDABLE = (
    "hidden_channels",
    "num_layers",
    "dropout",
    "input_dropout",
    "lr",
    "weight_decay",
    "epochs",
    "patience",
    "batch_size",
    "num_neighbors",
)


def neighbours_per_hop(text: str) -> list[int]:
    """argparse type of ``--num-neighbors``: ``10,10`` -> ``[10, 10]`` (each > 0, or -1 for all)."""
    try:
        hops = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 10,10, got {text!r}") from None
    if not hops or any(h < 1 and h != -1 for h in hops):
        raise argparse.ArgumentTypeError(f"each hop samples > 0 neighbours or -1 (all), got {text!r}")
    return hops


def add_arguments(parser) -> None:
    _common.add_common_arguments(parser)
    parser.add_argument(
        "--model",
        default="gcn",
        help=f"comma-separated models or 'all' ({','.join(ALL_MODELS)}); choices: {sorted(MODELS)}",
    )
    parser.add_argument(
        "--protocol",
        default="coldstart",
        choices=PROTOCOLS,
        help="coldstart: Cold Brew head/tail/isolated split (isolated nodes lose their edges); "
        "standard: the dataset's graph untouched, groups by degree; inductive: GLNN",
    )
    pos = _common.positive_int
    parser.add_argument("--hidden", dest="hidden_channels", type=pos, default=None, help="override hidden size")
    parser.add_argument("--layers", dest="num_layers", type=pos, default=None, help="override layer count")
    parser.add_argument("--dropout", type=_common.probability, default=None, help="override hidden-layer dropout")
    parser.add_argument(
        "--input-dropout",
        type=_common.probability,
        default=None,
        help="override dropout on the input features (for sign and sgc: on the propagated ones)",
    )
    parser.add_argument("--lr", type=_common.positive_float, default=None)
    parser.add_argument("--weight-decay", type=_common.nonnegative_float, default=None)
    parser.add_argument("--epochs", type=pos, default=None)
    parser.add_argument("--patience", type=pos, default=None, help="early stopping on validation accuracy")
    parser.add_argument(
        "--batch-size",
        type=pos,
        default=None,
        help="mini-batch steps of this many rows: mlp, sign and sgc above full_batch_rows (32768) training nodes; "
        "with --num-neighbors, seed nodes of a graph model's sampled steps",
    )
    parser.add_argument(
        "--num-neighbors",
        type=neighbours_per_hop,
        default=None,
        metavar="N1,N2",
        help="train graph models (sage, gcn, gat) on subgraphs PyG's NeighborLoader samples, N per hop (-1: all), "
        "with --batch-size seeds per step; needs the sampling backend (make sampling)",
    )
    _common.add_resume_argument(parser, unit="(model, seed) runs")


def parse_models(spec: str) -> list[str]:
    names = list(ALL_MODELS) if spec == "all" else [m.strip().lower() for m in spec.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown or not names:
        raise ValueError(f"unknown model(s) {unknown or spec!r}; choose from {sorted(MODELS)} or 'all'")
    return names


def resolve_config(args) -> dict:
    """The full, resolved configuration: per-model defaults with command-line overrides applied."""
    overrides = {k: getattr(args, k) for k in OVERRIDABLE if getattr(args, k, None) is not None}
    models = {}
    for name in parse_models(args.model):
        hp = default_hparams(name)
        hp.update(overrides)
        models[name] = hp
    return {
        "job": "train",
        "dataset": args.dataset,
        "protocol": args.protocol,
        "runs": args.runs,
        "seed": args.seed,
        "split": args.split,
        "features": args.features or "raw",
        "feature_norm": _common.feature_norm(args),
        "threads": _common.job_threads(args),
        "models": models,
    }


def _save_seed(name: str, seed: int, res: ProtocolResult, make, config: dict) -> None:
    """Keep one finished (model, seed) in the parent run: ``seeds/<model>/seed<S>.npz`` (which nodes it got right),
    ``seeds/<model>/seed<S>.pt`` (the model at its selected epoch; ``make()`` builds an empty one to load it into)
    and, last, ``seeds/<model>/seed<S>.json`` (its numbers and curve): the pair counts as done once the JSON is
    there, so a kill at any point loses at most the seed in progress."""
    record = {
        "per_run": res.per_run[0],
        "curve": res.curves[0],
        "best_epoch": res.best_epochs[0],
        "best_val": res.best_val[0],
        "wall_time": res.wall_time[0],
        "config": res.config,
    }
    with tempfile.TemporaryDirectory(prefix="graphlearn-seed-") as tmp:
        np.savez(Path(tmp) / f"seed{seed}.npz", correct=np.asarray(res.correct))
        tracking.log_file(Path(tmp) / f"seed{seed}.npz", f"seeds/{name}")
        if res.models:
            model = make()
            model.load_state_dict(res.models[0])
            model_io.save(model, Path(tmp) / f"seed{seed}.pt", config=config, meta={"model": name, "seed": seed})
            tracking.log_file(Path(tmp) / f"seed{seed}.pt", f"seeds/{name}")
    tracking.log_json(record, f"seeds/{name}/seed{seed}.json")


def _resume(args, config: dict) -> dict[tuple[str, int], ProtocolResult]:
    """Check that ``--resume`` continues the same job, mark its runs left RUNNING (a SIGKILL) KILLED and read back
    its finished (model, seed) pairs."""
    _common.check_resume(args.resume, "train", config)
    done: dict[tuple[str, int], ProtocolResult] = {}
    with tempfile.TemporaryDirectory(prefix="graphlearn-resume-") as tmp:
        for name in config["models"]:
            names = set(tracking.list_artifacts(args.resume, f"seeds/{name}"))
            for r in range(args.runs):
                seed = args.seed + r
                stem = f"seeds/{name}/seed{seed}"
                if f"{stem}.json" not in names or f"{stem}.npz" not in names:
                    continue
                rec = json.loads(Path(tracking.download_artifact(args.resume, f"{stem}.json", tmp)).read_text())
                with np.load(tracking.download_artifact(args.resume, f"{stem}.npz", tmp)) as z:
                    correct = z["correct"]
                done[(name, seed)] = ProtocolResult(
                    per_run=[rec["per_run"]],
                    curves=[rec["curve"]],
                    best_epochs=[rec["best_epoch"]],
                    best_val=[rec["best_val"]],
                    correct=correct,
                    wall_time=[rec["wall_time"]],
                    config=rec["config"],
                )
    print(
        f"resuming run {args.resume}: {len(done)} of {args.runs * len(config['models'])} (model, seed) runs done",
        file=sys.stderr,
        flush=True,
    )
    return done


def check_data_parallel(args, config: dict, data, ctx: distributed.Context) -> None:
    """Under torchrun with several processes: only row-independent models, and a training node for every rank (a
    clear error on every rank before any run is opened)."""
    serial = [m for m in config["models"] if not getattr(MODELS[m], "row_independent", False)]
    if serial:
        raise ValueError(
            f"--model {','.join(serial)}: graph models do not train data-parallel (a node's output needs its "
            f"neighbours' rows); under torchrun choose from mlp, sign, sgc, or run them in one process"
        )
    _common.check_shares(args.dataset, int(data.train_mask.sum()), ctx.world_size)


def _open_store(args, config: dict) -> tuple[str | None, dict]:
    """Rank 0's set-up of the tracking store: configure it, continue an interrupted run, read back its seeds."""
    tracking.configure(args.tracking_uri, args.experiment)
    _common.auto_resume(args, "train", config)
    return args.resume, (_resume(args, config) if args.resume else {})


def run(args) -> dict:
    with distributed.session() as ctx:
        return _run(args, ctx)


def _run(args, ctx: distributed.Context) -> dict:
    config = resolve_config(args)
    if ctx.parallel:  # the results depend on it (float rounding, dropout streams): --resume must not mix them
        config["world_size"] = ctx.world_size
    ctx.on_main(lambda: _common.check_out(args.out))
    data = _common.load_data(args)
    _common.check_trainable(args, data, needs_edges=args.protocol == "coldstart")
    data = apply_protocol(data, args.protocol, seed=args.seed)
    if ctx.parallel:
        check_data_parallel(args, config, data, ctx)
    dataset_name = _common.display_name(args, data)
    args.resume, done = ctx.on_main(lambda: _open_store(args, config))
    summaries, correct = {}, {}
    main = ctx.is_main  # the only rank that tracks, prints and writes
    tags = {"job": "train", "dataset": dataset_name, "protocol": args.protocol}
    if not main:
        opened = contextlib.nullcontext()
    elif args.resume:
        opened = tracking.resume_run(args.resume)
    else:
        opened = tracking.parent_run(f"train:{dataset_name}", config, tags=tags)
    with opened as parent:
        if main and not args.resume:
            tracking.log_dataset(data, dataset_name, args.dataset)
            _common.log_split(data)  # before the first seed: a killed job keeps it too
        for name, hp in config["models"].items():
            model_kw, train_kw = split_hparams(hp)
            make = partial(build_model, name, data.num_features, out_channels=data.num_classes, **model_kw)
            parts = []
            for r in range(args.runs):
                seed = args.seed + r
                if (name, seed) in done:  # finished before the job was interrupted (--resume)
                    parts.append(done[(name, seed)])
                    continue
                child = (
                    tracking.child_run(f"{name}/seed={seed}", {"model": name, "seed": seed, **hp})
                    if main
                    else contextlib.nullcontext()
                )
                with child:
                    res = run_protocol(
                        make,
                        data,
                        runs=1,
                        seed=seed,
                        progress=main and not args.no_progress,
                        label=name,
                        keep_models=True,
                        parallel=ctx,
                        **train_kw,
                    )
                    if main:
                        tracking.log_curve(res.curves[0])
                        tracking.log_metrics(
                            {f"test_{g}": v for g, v in res.per_run[0].items()}
                            | {
                                "best_val": res.best_val[0],
                                "best_epoch": res.best_epochs[0],
                                "wall_time_s": res.wall_time[0],
                            }
                        )
                if main:
                    _save_seed(name, seed, res, make, config)
                parts.append(res)
                log.debug("%s seed %d: %s", name, seed, res.per_run[0])
            merged = _common.merge_results(parts)
            summaries[name], correct[name] = merged, merged.correct
            if main:
                tracking.log_metrics(
                    {
                        f"{name}.{g}.{stat}": round(cell[stat], 2)
                        for g, cell in merged.summary(include_val=True).items()
                        for stat in ("mean", "std")
                    }
                )
        results = None
        if main:
            results = make_results(
                dataset_name,
                args.protocol,
                parent.info.run_id,
                summaries,
                extra={"split": getattr(data, "split_info", None)},
            )
            _common.write_artifacts(results, data, correct, args.out)
    if main:
        _common.report(results, args.json)
        if not args.json:
            print(f"MLflow run {parent.info.run_id} ({mlflow.get_tracking_uri()})")
    return ctx.broadcast(results)


if __name__ == "__main__":
    _common.script_main("train")
