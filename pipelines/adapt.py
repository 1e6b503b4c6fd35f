"""``graphlearn adapt``: graph-relational domain adaptation (GRDA) against source-only and DANN, tracked in MLflow.

    graphlearn adapt --dataset dg15 --seeds 5
    python -m pipelines.adapt --dataset tpt48-ew --models grda,dann,source-only --json
    graphlearn adapt --dataset my.csv --domain-graph edges.csv --source-domains a,b,c

One parent MLflow run per invocation (resolved config, results JSON and table, domain-graph plots) and one nested
run per model and seed (per-epoch losses with ``step=epoch``, final per-domain metrics). The library never sees
MLflow: it reports each epoch through the ``on_epoch`` callback passed from here.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from graphlearn import model_io, tracking
from graphlearn.config import parse_overrides
from graphlearn.data.grda import DATASETS, DomainDataset, load_grda, load_user_domains
from graphlearn.evaluation import summarize
from graphlearn.evaluation.results import format_table, make_results, to_markdown
from graphlearn.io import atomic_write_text, save_figure
from graphlearn.methods.grda import METHODS, AdaptConfig, fit
from graphlearn.methods.grda.plots import plot_domain_graph
from pipelines import _common

log = logging.getLogger(__name__)

PROTOCOL = "grda"
DEFAULT_MODELS = ("grda", "dann", "source-only")
# Per-dataset hyper-parameters (AdaptConfig fields). Every model of a run shares them: the methods differ only in
# their adversary. Choices and their evidence: docs/grda.md and benchmarks/results/grda.md.
PRESETS: dict[str, dict] = {
    # official lambda (config_random_15_new.py: 1, config_random_60_new.py: 0.5), sample_v (10 / 30), batch 10
    "dg15": dict(
        epochs=200,
        batch_size=10,
        lr=1e-4,
        lr_d=1e-3,
        lr_half_life=40,
        lambda_adv=1.0,
        sample_v=10,
        embedding="spectral",
    ),
    "dg60": dict(
        epochs=100,
        batch_size=10,
        lr=1e-4,
        lr_d=1e-3,
        lr_half_life=20,
        lambda_adv=0.5,
        sample_v=30,
        embedding="spectral",
    ),
    # VDI's TPT-48 configs: batch 16, sample_v 27 (their GRDA discriminator option)
    "tpt48-ew": dict(
        epochs=100,
        batch_size=16,
        lr=1e-4,
        lr_d=1e-3,
        lr_half_life=40,
        lambda_adv=1.0,
        sample_v=27,
        embedding="spectral",
    ),
    "tpt48-ns": dict(
        epochs=100,
        batch_size=16,
        lr=1e-4,
        lr_d=1e-3,
        lr_half_life=40,
        lambda_adv=1.0,
        sample_v=27,
        embedding="spectral",
    ),
    "user": dict(epochs=200, embedding="spectral"),
}
FLAG_KEYS = ("epochs", "lambda_adv", "lr", "lr_d", "hidden", "batch_size", "embedding", "sample_v")


def add_arguments(parser) -> None:
    parser.add_argument(
        "--dataset",
        default="dg15",
        help=f"one of {', '.join(DATASETS)}, or a user table (.npz/.csv/.parquet) with "
        "--domain-graph and --source-domains",
    )
    parser.add_argument("--domain-graph", default=None, help="user data: CSV edge list source,target[,weight]")
    parser.add_argument("--source-domains", default=None, help="user data: comma-separated source domain ids")
    parser.add_argument(
        "--target-domains",
        default=None,
        help="user data: comma-separated target domain ids (default: every other graph node)",
    )
    parser.add_argument(
        "--task",
        default="auto",
        choices=("auto", "classification", "regression"),
        help="user data: integer labels -> classification under 'auto'",
    )
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help=f"comma-separated, from {sorted(METHODS)}")
    parser.add_argument(
        "--runs", "--seeds", dest="runs", type=_common.positive_int, default=5, help="seeds (seed, seed + 1, ...)"
    )
    pos = _common.positive_int
    parser.add_argument("--epochs", type=pos, default=None, help="override the preset's epochs")
    parser.add_argument(
        "--lambda", dest="lambda_adv", type=_common.nonnegative_float, default=None, help="adversary weight"
    )
    parser.add_argument("--lr", type=_common.positive_float, default=None, help="encoder/predictor learning rate")
    parser.add_argument(
        "--lr-d", dest="lr_d", type=_common.positive_float, default=None, help="discriminator learning rate"
    )
    parser.add_argument("--hidden", type=pos, default=None, help="representation width")
    parser.add_argument("--batch-size", type=pos, default=None, help="samples per domain per step")
    parser.add_argument("--sample-v", dest="sample_v", type=pos, default=None, help="domains per sampled subgraph")
    parser.add_argument(
        "--embedding",
        default=None,
        choices=("given", "spectral"),
        help="domain-node embedding fed to the encoder (given: the dataset's g_encode)",
    )
    _common.add_set_argument(parser, "AdaptConfig", "--set disc_layers=6")
    _common.add_job_arguments(parser)
    _common.add_resume_argument(parser, unit="(model, seed) runs")


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def load(args) -> DomainDataset:
    if args.dataset in DATASETS:
        return load_grda(args.dataset, root=args.data_root)
    if not args.domain_graph or not args.source_domains:
        raise ValueError(
            f"--dataset {args.dataset!r} is not one of {list(DATASETS)}; a user table needs "
            "--domain-graph EDGES.csv and --source-domains ID,ID,..."
        )
    return load_user_domains(
        args.dataset, args.domain_graph, _csv(args.source_domains), _csv(args.target_domains), task=args.task
    )


def resolve_hparams(args) -> tuple[list[str], dict]:
    """``(models, hparams)``: the preset for the dataset, then flags, then ``--set`` overrides. Unknown models,
    unknown keys, bad types and ranges raise before any data is read."""
    models = _csv(args.models) or []
    unknown = [m for m in models if m not in METHODS]
    if unknown or not models:
        raise ValueError(f"unknown model(s) {unknown or args.models!r}; choose from {sorted(METHODS)}")
    hp = dict(PRESETS.get(args.dataset, PRESETS["user"]))
    hp.update({k: getattr(args, k) for k in FLAG_KEYS if getattr(args, k, None) is not None})
    hp.update(parse_overrides(args.overrides))
    AdaptConfig.from_dict(hp)  # validates keys, types and ranges
    return models, hp


def resolve_config(args, dataset: DomainDataset) -> dict:
    """The job's resolved configuration (logged with the parent run)."""
    models, hp = resolve_hparams(args)
    return {
        "job": "adapt",
        "dataset": args.dataset,
        "protocol": PROTOCOL,
        "metric": dataset.metric,
        "models": models,
        "seeds": [args.seed + i for i in range(args.runs)],
        "feature_norm": _common.feature_norm(args),
        "threads": _common.job_threads(args),
        "hparams": hp,
        "domains": {
            "n": dataset.num_domains,
            "source": [d for d, s in zip(dataset.domain_ids, dataset.source) if s],
            "edges": int((dataset.adjacency > 0).sum() // 2),
        },
        "samples": int(len(dataset.x)),
        "task": dataset.task,
    }


def summarise(runs: list, dataset: DomainDataset) -> dict:
    """``{group: {mean, std, values}}`` over seeds: overall (targets), source, and one group per domain; ``std`` is
    the sample standard deviation, as in every results JSON (:func:`graphlearn.evaluation.summarize`)."""

    def cell(values):
        return summarize([float(v) for v in values])

    out = {"overall": cell(r.overall for r in runs), "source": cell(r.source for r in runs)}
    for k, d in enumerate(dataset.domain_ids):
        out[f"domain:{d}"] = cell(r.per_domain[k] for r in runs)
    return out


class _EpochLogger:
    """``on_epoch`` callback: buffers per-epoch metrics and flushes them to the active run in batches."""

    def __init__(self, every: int = 50):
        self.every, self.buffer, self.first = every, [], 1

    def __call__(self, stage: str, epoch: int, metrics: dict) -> None:
        if not self.buffer:
            self.first = epoch  # step = epoch (1-based, graphlearn.training)
        self.buffer.append(metrics)
        if len(self.buffer) >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            tracking.log_curve(self.buffer, first_step=self.first)
            self.buffer = []


def _plot(results: dict, dataset: DomainDataset, title: str):
    """Domain graph coloured by per-domain metric for GRDA and the best other model."""
    res = results["results"]
    better = max if dataset.metric == "acc" else min
    others = [m for m in res if m != "grda"]
    shown = (["grda"] if "grda" in res else []) + (
        [better(others, key=lambda m: res[m]["overall"]["mean"])] if others else []
    )
    values = {m: [res[m][f"domain:{d}"]["mean"] for d in dataset.domain_ids] for m in shown}
    pos = dataset.positions
    if pos is None:  # user graphs: spectral layout
        from graphlearn.methods.grda import spectral_embedding

        pos = spectral_embedding(dataset.adjacency, 2)
    return plot_domain_graph(
        dataset.adjacency, pos, dataset.source, dataset.domain_ids, values, dataset.metric, title=title
    )


def _resume(args, config: dict) -> dict[tuple[str, int], SimpleNamespace]:
    """Check ``--resume`` (same job, same settings; stale runs marked) and read back its finished (model, seed)
    pairs, ``seeds/<model>/seed<S>.json`` in the parent run, as the numbers :func:`summarise` reads."""
    _common.check_resume(args.resume, "adapt", config)
    done = {}
    with tempfile.TemporaryDirectory(prefix="graphlearn-resume-") as tmp:
        for model in config["models"]:
            names = set(tracking.list_artifacts(args.resume, f"seeds/{model}"))
            for seed in config["seeds"]:
                path = f"seeds/{model}/seed{seed}.json"
                if path in names:
                    rec = json.loads(Path(tracking.download_artifact(args.resume, path, tmp)).read_text())
                    done[(model, seed)] = SimpleNamespace(**rec)
    total = len(config["models"]) * len(config["seeds"])
    print(f"resuming run {args.resume}: {len(done)} of {total} (model, seed) runs done", file=sys.stderr, flush=True)
    return done


def run(args) -> dict:
    _common.setup_threads(args)
    resolve_hparams(args)  # bad settings fail before the data is read
    _common.check_out(args.out)
    dataset = load(args)
    if _common.feature_norm(args) == "row" and _common.can_row_normalise(dataset.x, dataset.name):
        sums = dataset.x.sum(1, keepdims=True)
        dataset.x = (dataset.x / np.where(sums == 0, 1, sums)).astype(dataset.x.dtype)
    config = resolve_config(args, dataset)
    cfg = AdaptConfig.from_dict(config["hparams"])
    tracking.configure(args.tracking_uri, args.experiment)
    _common.auto_resume(args, "adapt", config)
    done = _resume(args, config) if args.resume else {}
    summaries, timings = {}, {}
    opened = (
        tracking.resume_run(args.resume)
        if args.resume
        else tracking.parent_run(f"adapt:{dataset.name}", config, tags={"job": "adapt", "dataset": dataset.name})
    )
    with opened as parent:
        if not args.resume:
            tracking.log_dataset(dataset, dataset.name, args.dataset)
        for model in config["models"]:
            runs = []
            for seed in config["seeds"]:
                if (model, seed) in done:  # finished before the job was interrupted (--resume)
                    runs.append(done[(model, seed)])
                    continue
                with tracking.child_run(f"{model}/seed={seed}", {"model": model, "seed": seed, **cfg.to_dict()}):
                    logger = _EpochLogger()
                    res = fit(model, dataset, cfg, seed=seed, on_epoch=logger, progress=not args.no_progress)
                    logger.flush()
                    tracking.log_metrics(
                        {
                            f"final_{dataset.metric}_target": res.overall,
                            f"final_{dataset.metric}_source": res.source,
                            "wall_time_s": res.seconds,
                        }
                    )
                    tracking.log_json({d: v for d, v in zip(dataset.domain_ids, res.per_domain)}, "per_domain.json")
                    # every seed's model, in graphlearn's versioned model file, in that seed's run (a few KB)
                    with tempfile.TemporaryDirectory(prefix="graphlearn-model-") as tmp:
                        path = model_io.save(res.model, Path(tmp) / f"{model}.pt", config=config)
                        tracking.log_file(path, "model")
                # kept in the parent run at once: a kill later loses nothing of this (model, seed) (--resume)
                keep = {"overall": float(res.overall), "source": float(res.source)}
                keep["per_domain"] = [float(v) for v in res.per_domain]
                tracking.log_json({**keep, "seconds": res.seconds}, f"seeds/{model}/seed{seed}.json")
                runs.append(res)
                log.info("%s seed %d: target %s %.4f (%.0fs)", model, seed, dataset.metric, res.overall, res.seconds)
            summaries[model] = summarise(runs, dataset)
            timings[model] = float(np.mean([r.seconds for r in runs]))
            tracking.log_metrics(
                {
                    f"{model}.{g}.{s}": round(summaries[model][g][s], 2)
                    for g in ("overall", "source")
                    for s in ("mean", "std")
                }
            )
        results = make_results(
            dataset.name,
            PROTOCOL,
            parent.info.run_id,
            summaries,
            metric=dataset.metric,
            extra={
                "seconds_per_run": timings,
                "hparams": config["hparams"],
                "source_domains": config["domains"]["source"],
            },
        )
        fig = _plot(results, dataset, f"{dataset.name}: per-domain {dataset.metric}")
        tracking.log_figure(fig, "plots/domain_graph.png")
        tracking.log_json(results, "results/results.json")
        tracking.log_text(to_markdown(results) + "\n", "results/results.md")
        if args.out:
            folder = Path(args.out)
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(folder / "results.json", json.dumps(results, indent=2) + "\n")
            atomic_write_text(folder / "results.md", to_markdown(results) + "\n")
            save_figure(fig, folder / "domain_graph.png", dpi=120)
    print(json.dumps(results, indent=2) if args.json else _table(results))
    if not args.json:
        print(f"MLflow run {parent.info.run_id} ({tracking.current_uri()})")
    return results


def _table(results: dict) -> str:
    """The shared table of the overall/source groups, then one row per domain (role, each model's mean over
    seeds); the per-domain standard deviations are in the JSON."""
    slim = dict(
        results,
        results={
            m: {g: c for g, c in groups.items() if not g.startswith("domain:")}
            for m, groups in results["results"].items()
        },
    )
    models = list(results["results"])
    domains = [g[len("domain:") :] for g in results["results"][models[0]] if g.startswith("domain:")]
    sources = {str(d) for d in results.get("extra", {}).get("source_domains", [])}
    header = ["domain", "role", *models]
    rows = [
        [
            d,
            "source" if d in sources else "target",
            *(f"{results['results'][m][f'domain:{d}']['mean']:.2f}" for m in models),
        ]
        for d in domains
    ]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    per_domain = [f"per domain ({results['metric']}, mean over seeds)", fmt(header), fmt(["-" * w for w in widths])]
    return "\n".join([format_table(slim), "", *per_domain, *(fmt(r) for r in rows)])


if __name__ == "__main__":
    _common.script_main("adapt")
