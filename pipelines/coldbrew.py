"""``graphlearn coldbrew``: Cold Brew against its baselines on head, tail and isolated nodes, over N seeds.

    graphlearn coldbrew --dataset cora                 # 10 seeds, Cold Brew protocol + GLNN inductive protocol
    graphlearn coldbrew --dataset chameleon --set k=16 --set kd_weight=1 --json

Models: MLP, GCN, GraphSAGE, GCN+SE (the Cold Brew teacher), GLNN, label propagation (for FCR) and the Cold Brew
student. Every seed draws its own cold-start split (``ColdStartSplit(seed=seed)``); selection uses validation only.
One parent MLflow run (config, aggregates, FCR, results table and plots, the splits), one nested run per seed with
each model's per-epoch curves (``<protocol>.<model>.<metric>``, models named as in the report, ``step=epoch``).

Under ``torchrun`` (``graphlearn.distributed``) the same job runs on several processes: the feature-only models (MLP,
GLNN, the student's MLPs and feature head) train data-parallel, each rank on its share of the rows; the graph models
(GCN, GraphSAGE, GCN+SE, LP) are trained whole and identically on every rank; rank 0 alone tracks, prints and writes::

    torchrun --nproc-per-node 2 --no-python graphlearn coldbrew --dataset cora --runs 2
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import mlflow
import numpy as np
from tqdm.auto import tqdm

from graphlearn import distributed, sparse, tracking
from graphlearn.config import parse_overrides
from graphlearn.data.protocols import apply_protocol
from graphlearn.data.splits import save_split, stratified_split
from graphlearn.evaluation import make_results, summarize
from graphlearn.evaluation.results import COLD_VAL_GROUP, VAL_GROUP
from graphlearn.methods.coldbrew import ColdBrewConfig, run_coldbrew, save
from graphlearn.methods.coldbrew import tune as search
from graphlearn.methods.coldbrew.tune import DEFAULT_SPACE, DEFAULT_TRIALS, TUNABLE, parse_space
from pipelines import _common

log = logging.getLogger(__name__)

# run_coldbrew's model names -> the names in the report, per teacher convolution.
REPORT_NAMES = {"gcn": {"GNN": "GCN", "GNN+SE": "GCN+SE"}, "sage": {"GNN": "GraphSAGE", "GNN+SE": "GraphSAGE+SE"}}
PROTOCOLS = ("coldstart", "inductive")
#: With ``--tune``, the configured student's row (the search's first candidate), beside the kept one (``ColdBrew``).
UNTUNED = "ColdBrew-untuned"
LABEL_SPLITS = ("public", "random")


def _space_text(space: dict) -> str:
    return "; ".join(f"{k}={','.join(map(str, v))}" for k, v in space.items())


def add_arguments(parser) -> None:
    _common.add_common_arguments(parser)
    parser.add_argument(
        "--protocols",
        default="coldstart,inductive",
        help="comma-separated: coldstart (Cold Brew head/tail/isolated), inductive (GLNN)",
    )
    _common.add_set_argument(parser, "ColdBrewConfig", "--set k=16 --set se_layers=[0,1]")
    parser.add_argument("--no-sage", action="store_true", help="skip the GraphSAGE baseline")
    parser.add_argument(
        "--retrieval-dim",
        type=int,
        default=256,
        help="width of the retrieval head the first seed's student (the one kept for `graphlearn export`) learns "
        "for nearest-node search (0: none; no reported number depends on it; benchmarks/results/export_retrieval.md)",
    )
    parser.add_argument(
        "--tune",
        type=int,
        nargs="?",
        const=DEFAULT_TRIALS,
        default=None,
        metavar="TRIALS",
        help="choose the student's setting for this dataset on the cold-start validation set (validation nodes "
        "made isolated like the isolated test nodes): TRIALS candidate settings (the configured one, then its one-key "
        f"changes within the search space; default {DEFAULT_TRIALS}) are trained on every seed and protocol, and the "
        "one with the best mean accuracy on that set over the seeds is the ColdBrew row; the configured one is also "
        "reported, "
        "as ColdBrew-untuned (default: off)",
    )
    parser.add_argument(
        "--label-split",
        choices=LABEL_SPLITS,
        default="public",
        help="public: the dataset's own train/val/test masks; random: per seed a class-stratified 60/20/20 split "
        "drawn with the seed (the Cold Brew paper's label budget, for comparison with its Table 3)",
    )
    parser.add_argument(
        "--tune-space",
        action="append",
        default=None,
        metavar="KEY=V1,V2",
        help="replace the search space (repeatable), e.g. --tune-space k=10,50 --tune-space kd_weight=1,10; "
        f"keys: {', '.join(TUNABLE)} (default: {_space_text(DEFAULT_SPACE)})",
    )
    _common.add_resume_argument(parser, unit="seeds")
    parser.add_argument(
        "--split-seed",
        type=int,
        default=None,
        help="one cold-start split for every run, drawn with this seed (default: run r draws its own, "
        "with seed + r; features pretrained with a held-out split fix it to that split)",
    )


def _one_seed(
    data,
    config: ColdBrewConfig,
    seed: int,
    with_sage: bool,
    protocol: str = "coldstart",
    status=None,
    candidates=None,
    parallel: distributed.Context | None = None,
) -> dict:
    """All models on one split: ``{"acc": {model: {group: acc}}, "correct": {model: bool [N]}, "fcr",
    "trained": {name: module}, "student_teacher": report name of the student's teacher or None}``. ``status(text)``
    hears the stage and epoch as training goes (the progress bar's postfix); ``candidates``: the search's settings
    (:func:`~graphlearn.methods.coldbrew.tune.candidate_settings`), trained beside the student as
    ``ColdBrew/c<i>``. ``parallel``: this rank's context under torchrun (rank 0 alone logs the curves)."""
    curves: dict[str, list] = defaultdict(list)

    def on_epoch(stage: str, epoch: int, metrics: dict) -> None:
        curves[stage].append(metrics)
        if status is not None and (epoch == 1 or epoch % 10 == 0):
            status(f"seed {seed} {protocol}: {stage} epoch {epoch}")

    out = run_coldbrew(data, config, seed=seed, on_epoch=on_epoch, candidates=candidates, parallel=parallel)
    names = dict(REPORT_NAMES[config.conv])
    runs = [(out, names)]
    if with_sage and config.conv != "sage":
        sage_cfg = ColdBrewConfig.from_dict({**config.to_dict(), "conv": "sage", "models": ("GNN",)})
        sage_curves: dict[str, list] = defaultdict(list)
        runs.append(
            (
                run_coldbrew(
                    data,
                    sage_cfg,
                    seed=seed,
                    on_epoch=lambda s, e, m: sage_curves[f"sage:{s}"].append(m),
                    parallel=parallel,
                ),
                REPORT_NAMES["sage"],
            )
        )
        curves.update(sage_curves)
    acc, correct = {}, {}
    for result, rename in runs:
        for name, m in result["models"].items():
            report = rename.get(name, name)
            # the validation accuracy beside the test groups (OGB's "Highest Valid", on validation nodes that keep
            # their edges) and on the cold-start validation set (validation nodes made isolated like the test ones)
            val = {VAL_GROUP: m["val_acc"]} if np.isfinite(m["val_acc"]) else {}
            if "isolated" in m.get("val_groups", {}):
                val[COLD_VAL_GROUP] = m["val_groups"]["isolated"]
            acc[report] = {**val, **m["acc"]}
            correct[report] = (m["pred"] == data.y).numpy()
    chosen = names.get(out["student_teacher"], out["student_teacher"])
    result = {"acc": acc, "correct": correct, "fcr": out["fcr"], "trained": out["trained"], "student_teacher": chosen}
    if parallel is not None and not parallel.is_main:
        return result
    for stage, curve in curves.items():
        # one name per protocol and model, as in the report (GCN, not GNN): coldstart.GCN.val_acc, inductive.GCN...
        owner, _, rest = stage.rpartition(":") if stage.startswith("sage:") else ("", "", stage)
        model, sep, sub = rest.partition("/")
        model = (REPORT_NAMES["sage"] if owner else names).get(model, model)
        tracking.log_curve(curve, prefix=f"{protocol}.{model}{sep}{sub}.")
    if chosen:
        tracking.log_metrics({f"student_teacher.{chosen}": 1.0})
    return result


# Each seed's models (graphlearn.model files under model/ of its seed run); `graphlearn export` serves the first seed's.
MODEL_FILES = {"ColdBrew": "coldbrew_student.pt", "GLNN": "glnn.pt", "MLP": "mlp.pt"}


def _save_models(trained: dict, config: ColdBrewConfig) -> None:
    """Log the seed's student, GLNN and MLP (those trained) as graphlearn model files under ``model/`` of the active
    (seed) run: every seed keeps its models, so a killed job loses at most the seed in progress."""
    with tempfile.TemporaryDirectory(prefix="graphlearn-model-") as tmp:
        for name, filename in MODEL_FILES.items():
            if name in trained:
                save(trained[name], Path(tmp) / filename, config=config.to_dict())
                tracking.log_file(Path(tmp) / filename, "model")


def _log_student(trained: dict, split, config: ColdBrewConfig, metrics: dict[str, float] | None = None) -> str | None:
    """Log the first seed's student twice: as graphlearn's versioned file (``model/coldbrew_student.pt``, loaded
    with ``graphlearn.methods.coldbrew.load``; keeps edges/self-exclusion at inference; what ``graphlearn export``
    serves) and as an MLflow model in the ``pt2`` format (features as the model saw them in, logits out). The GLNN
    and MLP baselines are kept too (``model/glnn.pt``, ``model/mlp.pt``), for ``graphlearn export --model glnn``.
    The ``pt2`` model is logged from a nested run of its own (``ColdBrew student``) holding only the student's
    accuracies (``metrics``) and its config, so that the model's MLflow page shows those and not every baseline's.
    Returns the MLflow model URI of the ``pt2`` model (``None`` for a student with sparse candidate features: no
    ``pt2`` model of it is logged)."""
    student = trained["ColdBrew"]
    _save_models(trained, config)
    with tracking.child_run("ColdBrew student", {"coldbrew": config.to_dict()}):
        tracking.log_metrics(metrics or {})
        if sparse.is_sparse(student.candidate_features):
            # torch.export saves no sparse tensor, and a dense copy is what keeping them sparse avoids: the
            # graphlearn file above (and `graphlearn export`'s registered endpoint) is this student's only copy
            log.info("the student keeps sparse candidate features: no pt2 MLflow model (use graphlearn export)")
            return None
        example = sparse.dense_rows(split.x, 0, 2).detach().cpu().numpy()
        return tracking.log_torch_model(
            student.serving(),
            "coldbrew_student",
            example,
            params=tracking.flatten_params({"coldbrew": config.to_dict()}),
        )


def _log_searched_student(
    args, data, config: ColdBrewConfig, setting: dict, records: list, kept: int, ctx: distributed.Context
) -> str | None:
    """The first seed's student of the setting the search kept, logged for ``graphlearn export`` (with that seed's
    GLNN and MLP): its cold-start run retrained, which gives the same models as in the loop (every model is seeded by
    its own stage seed), now with the retrieval head. Under torchrun every rank trains it; rank 0 logs it."""
    seed = args.seed
    split = apply_protocol(_labelled(data, args.label_split, seed), "coldstart", seed, args.split_seed)
    cfg = config.replace(**setting, models=tuple(m for m in config.models if m != "LP"))
    if args.retrieval_dim:
        cfg = cfg.replace(retrieval_dim=args.retrieval_dim)
    out = run_coldbrew(split, cfg, seed=seed, parallel=ctx)
    if not ctx.is_main:
        return None
    first = next((r for r in records if r["seed"] == seed), None)
    own = {}
    if first is not None:  # the numbers the loop scored for it
        own = {f"{g}_acc": v for g, v in first["acc"]["coldstart"].get(search.candidate_name(kept), {}).items()}
    return _log_student(out["trained"], split, config.replace(**setting), own)


def _save_seed(record: dict, correct: dict, split_dir: Path, seed: int) -> None:
    """Log one finished seed into the parent run: its split files, ``seeds/seed<S>.npz`` (which test nodes each
    model got right) and, last, ``seeds/seed<S>.json`` (its numbers): a seed counts as done once its JSON is there."""
    for path in sorted(split_dir.glob(f"*_seed{seed}.*")):
        tracking.log_file(path, "split/seeds")
    with tempfile.TemporaryDirectory(prefix="graphlearn-seed-") as tmp:
        np.savez(Path(tmp) / f"seed{seed}.npz", **{m: np.asarray(c) for m, c in correct.items()})
        tracking.log_file(Path(tmp) / f"seed{seed}.npz", "seeds")
    tracking.log_json(record, f"seeds/seed{seed}.json")


def _resume(args, job_config: dict) -> dict[int, tuple[dict, dict]]:
    """Check that ``--resume`` continues the same job, mark its runs left RUNNING (a SIGKILL) KILLED, and read back
    its finished seeds: ``{seed: (record, correct)}``."""
    _common.check_resume(args.resume, "coldbrew", job_config)
    with tempfile.TemporaryDirectory(prefix="graphlearn-resume-") as tmp:
        names = set(tracking.list_artifacts(args.resume, "seeds"))
        done = {}
        for r in range(args.runs):
            seed = args.seed + r
            if f"seeds/seed{seed}.json" not in names or f"seeds/seed{seed}.npz" not in names:
                continue
            record = json.loads(
                Path(tracking.download_artifact(args.resume, f"seeds/seed{seed}.json", tmp)).read_text()
            )
            with np.load(tracking.download_artifact(args.resume, f"seeds/seed{seed}.npz", tmp)) as z:
                correct = {m: z[m] for m in z.files}
            done[seed] = (record, correct)
    print(f"resuming run {args.resume}: {len(done)} of {args.runs} seeds done", file=sys.stderr, flush=True)
    return done


def _labelled(data, label_split: str, seed: int):
    """The graph with the train/val/test masks of ``--label-split``: the dataset's own, or a class-stratified 60/20/20
    split drawn with the run's seed."""
    return stratified_split(data, 0.6, 0.2, seed=seed) if label_split == "random" else data


def _search_spec(args, config: ColdBrewConfig, protocols: list[str]) -> dict | None:
    """``{"trials", "space"}`` of the search (``--tune``), or ``None``; checked before any data is read."""
    space = parse_space(args.tune_space) if args.tune_space else None
    if space is not None and args.tune is None:
        raise ValueError("--tune-space is given without --tune: add --tune [TRIALS] to search the student's settings")
    if args.tune is None or "ColdBrew" not in config.models:
        return None
    if isinstance(args.tune, bool) or args.tune < 1:
        raise ValueError(f"--tune must be a budget of at least 1 trial (got {args.tune})")
    if "coldstart" not in protocols:
        raise ValueError(
            f"--tune needs the coldstart protocol (its cold-start validation set scores the search); got --protocols "
            f"{','.join(protocols)}"
        )
    if space is not None:
        search.check_space(space, config)  # its values checked against the configuration (e.g. a teacher not trained)
    return {"trials": args.tune, "space": space}


def _candidates(spec: dict | None, config: ColdBrewConfig, data, seed: int) -> list[dict] | None:
    """The search's candidate settings for this graph (``--tune-space``, else :func:`tune.default_space`)."""
    if spec is None:
        return None
    space = spec["space"] if spec["space"] is not None else search.default_space(config, data)
    return search.candidate_settings(config, spec["trials"], seed, space)


def _kept_candidate(records: list[dict], settings: list[dict], config: ColdBrewConfig) -> tuple[int, list[dict]]:
    """The candidate the search keeps (best mean cold-start validation accuracy over the seeds) and the search table."""
    nan = float("nan")
    scores = [
        [
            (
                rec["acc"]["coldstart"].get(search.candidate_name(i), {}).get(COLD_VAL_GROUP, nan),
                rec["acc"]["coldstart"].get(search.candidate_name(i), {}).get(VAL_GROUP, nan),
            )
            for i in range(len(settings))
        ]
        for rec in records
    ]
    kept = search.choose(scores)
    return kept, search.summary(settings, scores, kept, config)


def _keep_candidate(per_group: dict, correct: dict, kept: int, n: int) -> None:
    """Rename the search's rows in place: the kept candidate becomes ``ColdBrew``, the configured student
    ``ColdBrew-untuned``, the other candidates go."""
    for table in (per_group, correct):
        if "ColdBrew" not in table:
            continue
        table[UNTUNED] = table["ColdBrew"]
        table["ColdBrew"] = table[search.candidate_name(kept)]
        for i in range(1, n):
            table.pop(search.candidate_name(i), None)


def check_data_parallel(args, config: ColdBrewConfig, settings: list[dict] | None, split, ctx) -> None:
    """Under torchrun with several processes: student options that train in one process only are refused by name,
    and every rank needs a training node of the first seed's split (a clear error on every rank before any run is
    opened)."""
    folds = [c["mlp1_folds"] for c in settings or () if c.get("mlp1_folds", 0) > 1]
    refused = {
        "mlp1_folds": config.mlp1_folds > 1 or bool(folds),
        "mlp1_tcm_weight": config.mlp1_tcm_weight > 0,
    }
    named = [k for k, on in refused.items() if on]
    if named and "ColdBrew" in config.models:
        raise ValueError(
            f"the student does not train data-parallel with {', '.join(named)} (cross-fitting, the TCM loss); under "
            "torchrun leave it off (--set mlp1_folds=0 --set mlp1_tcm_weight=0, and no such --tune-space value), "
            "or run the job in one process"
        )
    _common.check_shares(args.dataset, int(split.train_mask.sum()), ctx.world_size)


def _open_store(args, job_config: dict) -> tuple[str | None, dict]:
    """Rank 0's set-up of the tracking store: configure it, continue an interrupted job, read back its seeds."""
    tracking.configure(args.tracking_uri, args.experiment)
    _common.auto_resume(args, "coldbrew", job_config)
    return args.resume, (_resume(args, job_config) if args.resume else {})


def run(args) -> dict:
    with distributed.session() as ctx:
        return _run(args, ctx)


def _run(args, ctx: distributed.Context) -> dict:
    """One Cold Brew job; under torchrun every rank trains (the feature-only models on its share of the rows) and
    rank 0 alone tracks, prints and writes."""
    main = ctx.is_main
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        raise ValueError(f"unknown protocol(s) {unknown or args.protocols!r}; choose from {list(PROTOCOLS)}")
    config = ColdBrewConfig.from_dict(parse_overrides(args.overrides))
    spec = _search_spec(args, config, protocols)
    if args.retrieval_dim:  # checked before any data is read or run opened (the head is built for the first seed)
        ColdBrewConfig.from_dict({**config.to_dict(), "retrieval_dim": args.retrieval_dim})
    ctx.on_main(lambda: _common.check_out(args.out))
    data = _common.load_data(args)
    # a wide bag of words large enough to matter (Coauthor-CS: 0.5 GB dense, 12 MB as CSR) is kept sparse from here
    # on, through every model and the student's candidates (graphlearn.sparse.compact; smaller graphs are unchanged)
    data.x = sparse.compact(data.x)
    _common.check_trainable(args, data, needs_edges="coldstart" in protocols)
    settings = _candidates(spec, config, data, args.seed)
    if ctx.parallel or settings is not None:  # the first seed's split, checked before anything is trained or opened
        protocol = "coldstart" if "coldstart" in protocols else protocols[0]
        first = apply_protocol(_labelled(data, args.label_split, args.seed), protocol, args.seed, args.split_seed)
    if ctx.parallel:
        check_data_parallel(args, config, settings, first, ctx)
    if settings is not None:  # the search needs a cold-start validation set: checked on the first seed, before training
        if not bool(first.val_isolated_mask.any()):
            raise ValueError(
                f"--tune has no cold-start validation set to score on: none of the {int(first.val_mask.sum())} "
                f"validation nodes of seed {args.seed} is among the {int(first.isolated_mask.sum())} nodes the "
                "cold-start split makes isolated"
            )
    dataset_name = _common.display_name(args, data)
    job_config = {
        "job": "coldbrew",
        "dataset": args.dataset,
        "runs": args.runs,
        "seed": args.seed,
        "protocols": protocols,
        "split": args.split,
        "split_seed": args.split_seed,
        "label_split": args.label_split,
        "features": args.features or "raw",
        "feature_norm": _common.feature_norm(args),
        "threads": _common.job_threads(args),
        "graphsage": not args.no_sage,
        "retrieval_dim": args.retrieval_dim,
        "tune": None if spec is None else {"trials": spec["trials"], "space": spec["space"]},
        "coldbrew": config.to_dict(),
    }
    if ctx.parallel:  # the results depend on it (float rounding, dropout streams): --resume must not mix them
        job_config["world_size"] = ctx.world_size
    args.resume, done = ctx.on_main(lambda: _open_store(args, job_config))
    per_group: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    correct_cs: dict[str, list] = defaultdict(list)
    fcrs, last_cs, student_uri = [], None, None
    teachers_chosen: dict[str, int] = defaultdict(int)
    records: list[dict] = []

    def accumulate(record: dict, correct: dict) -> None:
        """Add one finished seed to the aggregates (the same steps for a seed run now and one read back)."""
        nonlocal student_uri
        records.append(record)
        for protocol in protocols:
            for model, groups in record["acc"][protocol].items():
                for group, value in groups.items():
                    # coldstart reports overall/head/tail/isolated; inductive adds GLNN's tran/ind.
                    if protocol == "coldstart" or group in ("tran", "ind"):
                        per_group[model][group].append(value)
        if record.get("student_teacher"):
            teachers_chosen[record["student_teacher"]] += 1
        for model, c in correct.items():
            correct_cs[model].append(c)
        if record.get("fcr") is not None:
            fcrs.append(record["fcr"])
        student_uri = student_uri or record.get("student_uri")

    opened = (
        contextlib.nullcontext()
        if not main
        else tracking.resume_run(args.resume)
        if args.resume
        else tracking.parent_run(
            f"coldbrew:{dataset_name}",
            job_config,
            tags={"job": "coldbrew", "dataset": dataset_name, "protocol": "+".join(protocols)},
        )
    )
    with opened as parent:
        if main and not args.resume:
            tracking.log_dataset(data, dataset_name, args.dataset)
        split_tmp = tempfile.TemporaryDirectory(prefix="graphlearn-splits-")  # removed once logged
        split_dir = Path(split_tmp.name)
        bar = tqdm(total=args.runs, desc="coldbrew seeds", unit="seed", disable=args.no_progress or not main)
        for r in range(args.runs):
            seed = args.seed + r
            if seed in done:  # finished before the job was interrupted (--resume)
                accumulate(*done[seed])
                bar.update(1)
                continue
            record: dict = {"seed": seed, "acc": {}, "fcr": None, "student_teacher": None, "student_uri": None}
            correct_seed: dict = {}
            with tracking.child_run(f"seed={seed}", {"seed": seed}) if main else contextlib.nullcontext():
                labelled = _labelled(data, args.label_split, seed)
                for protocol in protocols:
                    split = apply_protocol(labelled, protocol, seed, args.split_seed)
                    if main:
                        save_split(split, split_dir / f"{protocol}_seed{seed}.npz")
                    kept = protocol == "coldstart" and r == 0 and args.retrieval_dim and "ColdBrew" in config.models
                    # the first seed's student is the one kept for `graphlearn export`: it also learns the retrieval
                    # head (trained after every number is recorded: the table is the same with or without it)
                    cfg = config.replace(retrieval_dim=args.retrieval_dim) if kept and settings is None else config
                    one = _one_seed(
                        split,
                        cfg,
                        seed,
                        with_sage=not args.no_sage,
                        protocol=protocol,
                        status=bar.set_postfix_str,
                        candidates=settings,
                        parallel=ctx,
                    )
                    acc, correct, fcr = one["acc"], one["correct"], one["fcr"]
                    record["acc"][protocol] = acc
                    if protocol == "coldstart" and one["student_teacher"]:
                        record["student_teacher"] = one["student_teacher"]
                    if main:  # rank 0 keeps the models and logs the numbers
                        first_student = settings is None and r == 0 and "ColdBrew" in one["trained"]
                        if protocol == "coldstart" and first_student:
                            # (with a search, the kept setting's student is logged once every seed has scored it)
                            own = {f"{g}_acc": v for g, v in acc.get("ColdBrew", {}).items()}  # the student's only
                            record["student_uri"] = _log_student(one["trained"], split, config, own)
                        elif protocol == "coldstart":  # every other seed keeps its models too (in its seed run)
                            _save_models(one["trained"], config)
                        for model, groups in acc.items():
                            tracking.log_metrics({f"{protocol}.{model}.{g}": v for g, v in groups.items()})
                        if protocol == "coldstart" and fcr is not None:
                            tracking.log_metrics({"fcr": fcr})
                    if protocol == "coldstart":
                        last_cs = split
                        correct_seed = correct
                        if fcr is not None:
                            record["fcr"] = fcr
            # the finished seed, kept at once in the parent run: a kill later loses nothing of it (--resume)
            if main:
                _save_seed(record, correct_seed, split_dir, seed)
            accumulate(record, correct_seed)
            bar.update(1)
        bar.close()
        if last_cs is None and "coldstart" in protocols:  # a resumed job whose last seed ran before the interruption
            last = args.seed + args.runs - 1
            last_cs = apply_protocol(_labelled(data, args.label_split, last), "coldstart", last, args.split_seed)
        table = None
        if settings is not None:
            kept_i, table = ctx.broadcast(_kept_candidate(records, settings, config))  # one choice on every rank
            _keep_candidate(per_group, correct_cs, kept_i, len(settings))
            if main:
                tracking.log_json(table, "search.json")
                tracking.log_metrics({"search.kept": float(kept_i)})
            student_uri = _log_searched_student(args, data, config, settings[kept_i], records, kept_i, ctx)
            if "student_teacher" in settings[kept_i]:  # the kept setting names the teacher for every seed
                name = REPORT_NAMES[config.conv][settings[kept_i]["student_teacher"]]
                teachers_chosen = {name: len(records)}
        results = None
        if not main:  # the other ranks have trained their shares: rank 0 reports the job
            split_tmp.cleanup()
        else:
            summaries = {m: {g: summarize(v) for g, v in groups.items()} for m, groups in per_group.items()}
            extra = {
                "protocols": protocols,
                "student_model": student_uri,
                "student_teacher": dict(teachers_chosen),
                "fcr": summarize(fcrs) if fcrs else None,
                "split": getattr(last_cs, "split_info", None),
                "config": config.to_dict(),
                **({"search": table} if table is not None else {}),
            }
            results = make_results(dataset_name, "+".join(protocols), parent.info.run_id, summaries, extra=extra)
            if fcrs:
                tracking.log_metrics({"fcr.mean": float(np.mean(fcrs))})
            for model, groups in summaries.items():
                tracking.log_metrics(
                    {f"{model}.{g}.{s}": round(c[s], 2) for g, c in groups.items() for s in ("mean", "std")}
                )
            plot_data = (
                last_cs if last_cs is not None else apply_protocol(data, "coldstart", args.seed, args.split_seed)
            )
            # Each seed has its own split; the by-degree plot uses the original degree, which all seeds share.
            correct = {m: np.stack(v) for m, v in correct_cs.items()} if correct_cs else {}
            # each seed has its own cold-start split: the nodes it made isolated are the plot's first bin, per seed
            isolated = (
                np.stack(
                    [
                        apply_protocol(data, "coldstart", s, args.split_seed).isolated_mask.numpy()
                        for s in range(args.seed, args.seed + args.runs)
                    ]
                )
                if correct and "coldstart" in protocols
                else None
            )
            _common.write_artifacts(results, plot_data, correct, args.out, isolated=isolated)
            split_tmp.cleanup()
    if not main:
        return ctx.broadcast(None)
    _common.report(results, args.json)
    if not args.json and results["extra"].get("search"):
        print("Student settings searched on the cold-start validation set (mean over seeds):")
        for row in results["extra"]["search"]:
            print(
                f"  {'*' if row['kept'] else ' '} {row['candidate']}: {row['setting']}  val_isolated "
                f"{row['val_isolated']:.2f}  val {row['val']:.2f}"
            )
    if results["extra"]["fcr"] and not args.json:
        fcr = results["extra"]["fcr"]
        print(f"FCR (feature contribution ratio): {fcr['mean']:.2f} ± {fcr['std']:.2f}")
    if not args.json and student_uri:
        print(
            f"Cold Brew student (first seed) as an MLflow model: {student_uri} (normalised features in, logits out); "
            f"embeddings, a FAISS index and a served cold-start endpoint: graphlearn export --run {parent.info.run_id}"
        )
    if not args.json:
        print(f"MLflow run {parent.info.run_id} ({mlflow.get_tracking_uri()})")
    return ctx.broadcast(results)


if __name__ == "__main__":
    _common.script_main("coldbrew")
