"""Pieces every results-producing pipeline shares: arguments, data + protocol set-up, per-seed nested runs,
and the results artifacts (JSON, Markdown, plots, split) written to disk and to MLflow."""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from graphlearn import sparse, tracking
from graphlearn.data import load_dataset
from graphlearn.data.registry import is_graph_folder
from graphlearn.data.splits import save_split
from graphlearn.evaluation import format_table, to_markdown
from graphlearn.evaluation.protocol import ProtocolResult
from graphlearn.io import atomic_write_text

log = logging.getLogger(__name__)


def script_main(command: str) -> None:
    """``python -m pipelines.<job> ...`` runs exactly as ``graphlearn <job> ...`` (same flags, same one-line errors)."""
    import sys  # noqa: PLC0415

    from pipelines.cli import main  # noqa: PLC0415

    sys.exit(main([command, *sys.argv[1:]]))


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--runs 0`` is an error naming the value, not an empty table)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (a learning rate)."""
    value = _number(text, "a number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number >= 0 (a weight decay, a loss weight)."""
    value = _number(text, "a number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def probability(text: str) -> float:
    """argparse type: a dropout rate in [0, 1)."""
    value = _number(text, "a number in [0, 1)")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def port(text: str) -> int:
    """argparse type: a TCP port, 1..65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number 1..65535, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 1..65535, got {value}")
    return value


def check_out(out: str | os.PathLike | None, flag: str = "--out") -> None:
    """Fail before any work when ``--out`` cannot be the results folder: an existing file, or a folder that cannot
    be created or written (found only after training otherwise)."""
    if not out:
        return
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {out}: exists and is not a folder")
    probe = path if path.is_dir() else next((p for p in path.parents if p.exists()), Path("."))
    if not probe.is_dir():
        raise ValueError(f"{flag} {out}: {probe} is not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".graphlearn-probe-"):
            pass
    except OSError as e:
        raise ValueError(f"{flag} {out}: cannot write in {probe} ({e.strerror or e})") from None


def check_shares(dataset: str, n_train: int, world_size: int) -> None:
    """Under torchrun: every rank needs a training node of its own (a clear error on every rank, before any run is
    opened)."""
    if n_train < world_size:
        raise ValueError(
            f"--dataset {dataset}: {n_train} training node(s) cannot be shared among {world_size} "
            f"processes; launch at most {n_train}"
        )


def check_trainable(args, data, *, needs_edges: bool) -> None:
    """A graph the supervised jobs can train on: labelled training nodes, and edges where the protocol needs them
    (without this, both end in "train_mask selects no node", which names neither cause)."""
    train = getattr(data, "train_mask", None)
    y = getattr(data, "y", None)
    if y is not None and train is None:
        train = y >= 0
    if y is None or not bool((train & (y >= 0)).any()):
        labelled = int((y >= 0).sum()) if y is not None else 0
        raise ValueError(
            f"--dataset {args.dataset}: no labelled training node ({labelled} labelled node(s) in all); give the "
            "node table a 'label' column with class labels (empty or -1 = unlabelled)"
        )
    if needs_edges and data.edge_index.size(1) == 0:
        raise ValueError(
            f"--dataset {args.dataset}: the graph has no edges, so the cold-start split makes every node isolated "
            "and none is left to train on; give an edge file with edges, or use --protocol standard (train)"
        )


def check_registry_names(name: str | None = None, alias: str | None = None) -> None:
    """A registered model name and alias MLflow accepts, checked before any work (MLflow refuses ``a/b``,
    the alias ``latest`` and version-like aliases ``v3`` only when the model is registered, at the very end)."""
    from mlflow.exceptions import MlflowException  # noqa: PLC0415
    from mlflow.utils import validation  # noqa: PLC0415

    # MLflow 3.18 renamed the alias checks (_validate_model_alias_name -> _validate_alias_name, and its _reserved twin)
    alias_checks = tuple(
        getattr(validation, new, None) or getattr(validation, old)
        for new, old in (
            ("_validate_alias_name", "_validate_model_alias_name"),
            ("_validate_alias_name_reserved", "_validate_model_alias_name_reserved"),
        )
    )
    for flag, value, checks in (("--name", name, (validation._validate_model_name,)), ("--alias", alias, alias_checks)):
        if value is None:
            continue
        try:
            for check in checks:
                check(value)
        except MlflowException as e:
            raise ValueError(f"{flag} {value!r}: {e.message}") from None


def add_job_arguments(parser, *, seed: bool = True) -> None:
    """The flags every job takes: data root, tracking, threads, feature normalisation, output, progress."""
    parser.add_argument("--data-root", default=None, help="data root (default: $GRAPHLEARN_DATA, else ./data)")
    if seed:
        parser.add_argument("--seed", type=int, default=0, help="first seed; run r uses seed + r")
    parser.add_argument(
        "--feature-norm",
        choices=("auto", "row", "none"),
        default="auto",
        help="row: divide raw non-negative features by their row sum (PyG's NormalizeFeatures, as "
        "in the GCN paper); auto: row for the Planetoid datasets only; never for --features",
    )
    parser.add_argument("--json", action="store_true", help="print the results JSON instead of the table")
    parser.add_argument("--out", default=None, help="also write the results files into this folder")
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite under ./mlruns)",
    )
    parser.add_argument("--experiment", default="graphlearn", help="MLflow experiment name")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch intra-op threads (default: $GRAPHLEARN_THREADS, else 1: torch's own default takes every core, "
        "and several jobs on a shared machine then slow each other 4-15x; 1 also gives the same numbers on every "
        "machine, since results depend on the thread count)",
    )


def add_serving_arguments(parser, threads_help: str = "torch / FAISS threads") -> None:
    """``--tracking-uri`` and ``--threads`` for the commands that answer queries (``serve``, ``neighbors``)."""
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite under ./mlruns)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help=f"{threads_help} (default: $GRAPHLEARN_THREADS, else 1)",
    )


def add_set_argument(parser, config_name: str, example: str) -> None:
    """``--set KEY=VALUE`` (repeatable), parsed by :func:`graphlearn.config.parse_overrides`."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a {config_name} field (JSON value or plain text; repeatable), e.g. {example}",
    )


def add_common_arguments(parser, *, default_dataset: str = "cora", default_runs: int | None = 10) -> None:
    """:func:`add_job_arguments` plus the graph dataset flags (and ``--runs`` unless ``default_runs`` is None)."""
    parser.add_argument(
        "--dataset",
        default=default_dataset,
        help="registry name (see `graphlearn datasets`), user:<edges>:<nodes> or synthetic:<nodes>",
    )
    parser.add_argument("--split", type=int, default=0, help="which standard split, for datasets with several")
    if default_runs is not None:
        parser.add_argument("--runs", type=positive_int, default=default_runs, help="seeds (OGB protocol: 10)")
    parser.add_argument(
        "--features", default=None, help="replace node features: a .npz/.pt file or pretrained:<mlflow run id>"
    )
    add_job_arguments(parser)


DEFAULT_THREADS = 1


def job_threads(args) -> int:
    """``--threads``, else ``$GRAPHLEARN_THREADS``, else :data:`DEFAULT_THREADS` (deterministic: never read from the
    machine's load, so a rerun gives the same numbers)."""
    if getattr(args, "threads", None):
        return int(args.threads)
    env = os.environ.get("GRAPHLEARN_THREADS")
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"GRAPHLEARN_THREADS must be an integer >= 1, got {env!r}") from None
        if value < 1:
            raise ValueError(f"GRAPHLEARN_THREADS must be an integer >= 1, got {env!r}")
        return value
    return DEFAULT_THREADS


def setup_threads(args) -> None:
    """A job's start: its torch threads, and the C heap's policy for training loops
    (:func:`graphlearn.training.configure_heap`: freed transients are reused by the next epoch, not faulted in
    again)."""
    import torch  # noqa: PLC0415

    from graphlearn.training import configure_heap  # noqa: PLC0415

    torch.set_num_threads(job_threads(args))
    configure_heap()


# Datasets whose published baselines row-normalise features (Kipf & Welling; PyG's Planetoid examples). Elsewhere it
# hurts: GCN on amazon-photo, 1 seed, 200 epochs: 93.46 raw vs 72.53 row-normalised (still under-fitted).
ROW_NORMALISED = ("cora", "citeseer")


def feature_norm(args) -> str:
    """The normalisation actually applied: ``row`` or ``none``."""
    norm = getattr(args, "feature_norm", "none")
    if getattr(args, "features", None):
        return "none"
    if norm == "auto":
        return "row" if args.dataset in ROW_NORMALISED else "none"
    return norm


def can_row_normalise(x, name: str) -> bool:
    """Row sums of signed features are meaningless (PyG's transform would shift by the global minimum): warn and
    keep them as given."""
    low = sparse.min_value(x)
    if low < 0:
        log.warning(
            "--feature-norm row skipped: %s has negative feature values (min %.3g); features used as given", name, low
        )
        return False
    return True


def load_data(args):
    setup_threads(args)
    data = load_dataset(args.dataset, root=args.data_root, split=args.split, seed=args.seed)
    if feature_norm(args) == "row" and can_row_normalise(data.x, args.dataset):
        data = copy.copy(data)
        data.x = sparse.row_sum_normalize(data.x)  # PyG's NormalizeFeatures, CSR kept CSR
    if args.features:
        from pipelines.features import resolve_features  # noqa: PLC0415  (only when asked)

        data = resolve_features(args.features, data, getattr(args, "tracking_uri", None))
    return data


def display_name(args, data) -> str:
    """The dataset's name in run names, tables and the results JSON: a registry or ``synthetic:`` name as given; for
    a ``user:`` graph, a ``.npz`` path or an OGB-layout folder the short name its loader gave it (the file's stem or
    the folder's name), not the spec with its paths (the full spec stays in the run's ``dataset`` param)."""
    spec = str(args.dataset)
    if spec.lower().startswith("user:") or spec.lower().endswith(".npz") or is_graph_folder(spec):
        return str(getattr(data, "name", None) or spec)
    return spec


def check_resume(run_id: str, job: str, config: Mapping[str, Any]) -> None:
    """``--resume <run_id>`` continues the same job: it is the parent run of a ``graphlearn <job>`` job started with
    these settings (else a ``ValueError`` naming the differences); runs it left RUNNING (a SIGKILL) are marked
    KILLED."""
    run_ = tracking.get_run(run_id)
    if run_.data.tags.get("job") != job or "mlflow.parentRunId" in run_.data.tags:
        raise ValueError(f"--resume {run_id}: not the parent run of a `graphlearn {job}` job")
    with tempfile.TemporaryDirectory(prefix="graphlearn-resume-") as tmp:
        logged = json.loads(Path(tracking.download_artifact(run_id, "config.json", tmp)).read_text())
    expected = json.loads(json.dumps(config, default=str))
    differ = sorted(k for k in set(logged) | set(expected) if logged.get(k) != expected.get(k))
    if differ:
        shown = ", ".join(f"{k}: {logged.get(k)!r} there, {expected.get(k)!r} here" for k in differ[:4])
        raise ValueError(f"--resume {run_id} was started with other settings ({shown}); rerun them as logged")
    stale = tracking.mark_stale_runs(run_id)
    if stale:
        log.info("marked %d run(s) left RUNNING by a killed process as KILLED", len(stale))


def add_resume_argument(parser, unit: str = "seeds") -> None:
    parser.add_argument(
        "--resume",
        default=None,
        metavar="RUN_ID",
        help=f"continue an interrupted job (its parent run id; same flags): finished {unit} are read back, the "
        "missing ones run, the table is that of an uninterrupted job. Without it, rerunning the same command "
        "continues the newest interrupted run with these settings",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="start a new run even when an interrupted one with these settings exists"
    )


def auto_resume(args, job: str, config: Mapping[str, Any]) -> None:
    """Rerunning the command of a killed job continues it: unless ``--resume`` or ``--fresh`` is given, the newest
    interrupted parent run of ``job`` (:func:`graphlearn.tracking.interrupted_runs`: KILLED, or RUNNING with its
    process gone) whose logged config equals ``config`` becomes ``args.resume`` (said on stderr)."""
    if getattr(args, "resume", None) or getattr(args, "fresh", False):
        return
    expected = json.loads(json.dumps(config, default=str))
    with tempfile.TemporaryDirectory(prefix="graphlearn-resume-") as tmp:
        for run_ in tracking.interrupted_runs(job, args.experiment):
            try:
                logged = json.loads(Path(tracking.download_artifact(run_.info.run_id, "config.json", tmp)).read_text())
            except Exception:  # noqa: BLE001  (a run whose config cannot be read is simply not a candidate)
                continue
            if logged == expected:
                args.resume = run_.info.run_id
                print(
                    f"continuing interrupted run {args.resume} (same settings; --fresh starts a new one)",
                    file=sys.stderr,
                    flush=True,
                )
                return


def merge_results(parts: list[ProtocolResult]) -> ProtocolResult:
    """One ProtocolResult from single-run results (one nested MLflow run per seed)."""
    out = ProtocolResult(config=dict(parts[0].config, runs=len(parts), seeds=[p.config["seed"] for p in parts]))
    for p in parts:
        out.per_run += p.per_run
        out.curves += p.curves
        out.best_epochs += p.best_epochs
        out.best_val += p.best_val
        out.wall_time += p.wall_time
    out.correct = np.concatenate([p.correct for p in parts])
    return out


def log_split(data) -> None:
    """Log ``data``'s split to the active run under ``split/`` (the files :func:`write_artifacts` writes at the end,
    with the same content), so that a job killed before its end keeps it."""
    with tempfile.TemporaryDirectory(prefix="graphlearn-splits-") as tmp:
        save_split(data, Path(tmp) / "split.npz")
        for name in sorted(os.listdir(tmp)):
            tracking.log_file(Path(tmp) / name, "split")


def write_artifacts(
    results: dict,
    data,
    correct_by_model: Mapping[str, Any],
    out: str | None,
    *,
    tracked: bool = True,
    isolated=None,
) -> Path | None:
    """Write results.json, results.md, the group and degree plots and the split into ``out`` (or a temporary folder,
    removed afterwards); log them to the active run. Returns ``out`` (``None`` without one). ``isolated``: the nodes
    the cold-start split made isolated, ``[N]`` or one row per run (default: ``data.isolated_mask`` when present),
    the degree plot's own first bin."""
    if (
        isolated is None
        and getattr(data, "isolated_mask", None) is not None
        and getattr(data, "degree", None) is not None
    ):
        isolated = data.isolated_mask
    if out:
        _write_artifacts(results, data, correct_by_model, Path(out), tracked, isolated)
        return Path(out)
    with tempfile.TemporaryDirectory(prefix="graphlearn-") as tmp:
        _write_artifacts(results, data, correct_by_model, Path(tmp), tracked, isolated)
    return None


def _write_artifacts(
    results: dict, data, correct_by_model: Mapping[str, Any], folder: Path, tracked: bool, isolated=None
) -> None:
    from graphlearn.evaluation.plots import plot_accuracy_by_degree, plot_group_accuracy  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "results.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(folder / "results.md", to_markdown(results) + "\n")
    plot_group_accuracy(results, folder / "accuracy_by_group.png")
    if correct_by_model:
        plot_accuracy_by_degree(
            data.degree,
            correct_by_model,
            folder / "accuracy_by_degree.png",
            mask=data.test_mask,
            title=f"{results['dataset']}: test accuracy by degree",
            isolated=isolated,
        )
    save_split(data, folder / "split.npz")
    if tracked:
        for name in sorted(os.listdir(folder)):
            sub = "split" if name.startswith("split") else "results"
            tracking.log_file(folder / name, sub)


def report(results: dict, as_json: bool) -> None:
    print(json.dumps(results, indent=2) if as_json else format_table(results))
