"""MLflow tracking for pipelines.

Only ``pipelines/`` imports this module: models, data and methods stay free of MLflow (a test checks it).
The layout follows MLflow's guidance for hand-written PyTorch loops: one parent run per invocation holding the
resolved config and the aggregates, one nested run per seed (or model x seed) with per-epoch metrics logged
with ``step=epoch``.

Default store: MLflow 3 refuses a bare ``file:`` store, so the embedded default is a SQLite database at
``mlruns/mlflow.db`` with artifacts in ``mlruns/artifacts`` (both under the working directory).
``MLFLOW_TRACKING_URI`` (or ``configure(uri=...)``) points runs at a server instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import mlflow

# MLflow draws a progress bar for every artifact download (one per model file, config ...): graphlearn shows its own.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# Against a tracking server MLflow writes "View run ... at: <url>" to stdout at every run's end, which would break
# `--json` (stdout is the results JSON alone); jobs print the run id themselves.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "graphlearn"
# The experiment's description in the MLflow UI (the ``mlflow.note.content`` tag), set when graphlearn creates it.
EXPERIMENT_NOTE = (
    "graphlearn runs: one parent run per command (`train`, `coldbrew`, `pretrain`, `adapt`, `update`) with its "
    "resolved config as params, aggregate metrics `<model>.<group>.mean|std` (accuracy, percent) and "
    "`results/results.{json,md}`; nested runs per seed with per-epoch curves. Tags `job`, `dataset` and `protocol` "
    "filter the table; the Dataset column is the graph the run read."
)


def default_store(base: str | os.PathLike | None = None) -> tuple[str, Path]:
    """The embedded store: ``(sqlite URI, artifact folder)`` under ``<base or cwd>/mlruns``."""
    root = Path(base or os.getcwd()).resolve() / "mlruns"
    return f"sqlite:///{root / 'mlflow.db'}", root / "artifacts"


def configure(uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT) -> str:
    """Point MLflow at ``uri`` (else ``$MLFLOW_TRACKING_URI``, else the embedded store) and select ``experiment``.

    Returns the tracking URI in use.
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    artifact_location = None
    lock_dir = None
    if not uri:
        uri, artifacts = default_store()
        try:
            artifacts.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ValueError(
                f"cannot create the default MLflow store {artifacts.parent} ({e.strerror or e}); run in a writable "
                "folder, or pass --tracking-uri sqlite:///<writable folder>/mlflow.db"
            ) from None
        artifact_location = artifacts.as_uri()
        lock_dir = artifacts.parent
    elif uri.startswith("sqlite:///"):
        lock_dir = Path(uri[len("sqlite:///") :]).resolve().parent
        # artifacts beside the database, not in MLflow's default ./mlruns of whatever folder the job runs in
        artifact_location = (lock_dir / "artifacts").as_uri()
    elif uri.startswith(("http://", "https://")):
        check_server(uri)
    else:
        check_uri(uri)
    # Quiet MLflow's alembic chatter on first use of the sqlite store.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with _store_lock(lock_dir):
        # MLflow creates and migrates a sqlite store on first use, which is not safe against several processes
        # starting at once on a fresh folder ("table _alembic_tmp_* already exists", ...): one at a time here.
        mlflow.set_tracking_uri(uri)
        if mlflow.get_experiment_by_name(experiment) is None:
            try:
                mlflow.create_experiment(
                    experiment,
                    artifact_location=f"{artifact_location}/{experiment}" if artifact_location else None,
                    tags={"mlflow.note.content": EXPERIMENT_NOTE},
                )
            except mlflow.exceptions.MlflowException as e:
                # another job created it between the lookup and here (a shared server takes no file lock)
                if e.error_code != "RESOURCE_ALREADY_EXISTS" or mlflow.get_experiment_by_name(experiment) is None:
                    raise
    mlflow.set_experiment(experiment)
    return uri


@contextlib.contextmanager
def _store_lock(folder: Path | None):
    """An inter-process lock (``fcntl.flock`` on ``<folder>/.graphlearn-store.lock``) around store creation."""
    if folder is None:
        yield
        return
    import fcntl  # noqa: PLC0415  (POSIX; the embedded store's creation is what needs it)

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".graphlearn-store.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# Stores MLflow 3 opens besides sqlite:/// and http(s):// (database back ends and Databricks).
OTHER_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "databricks", "databricks-uc")


def check_uri(uri: str) -> None:
    """A clear error for tracking URIs MLflow would fail on with a traceback (``file:`` stores, unknown schemes)."""
    scheme = uri.partition(":")[0].split("+")[0].lower() if ":" in uri else ""
    if scheme == "file" or (not scheme and uri):
        raise ValueError(
            f"tracking URI {uri!r} is a plain file store, which MLflow 3 refuses; use sqlite:///<folder>/mlflow.db "
            "(the default is sqlite:///./mlruns/mlflow.db) or an http(s):// server"
        )
    if scheme not in OTHER_SCHEMES:
        raise ValueError(
            f"unknown tracking URI scheme {scheme!r} in {uri!r}; use sqlite:///<path>, http(s)://<server> or one of "
            f"{list(OTHER_SCHEMES)}"
        )


def check_server(uri: str, timeout: float = 3.0) -> None:
    """Fail fast, with one line naming ``uri``, when no tracking server answers there (MLflow's own client retries
    for minutes before it gives up). Any HTTP answer counts as up; only a refused, unresolvable or silent address
    is an error."""
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout).close()
    except urllib.error.HTTPError:
        return  # the server answered (e.g. 404 on a server without /health)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise ValueError(
            f"MLflow tracking server {uri} is not reachable ({reason}); start it, or unset MLFLOW_TRACKING_URI / "
            "--tracking-uri to use the local store under ./mlruns"
        ) from None


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``config`` as MLflow params: nested keys joined by dots, lists and tuples as JSON."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_params(value, prefix=f"{name}."))
        else:
            # MLflow params are strings of at most 6000 chars; lists/tuples are stored as JSON.
            out[name] = json.dumps(value) if isinstance(value, (list, tuple)) else value
    return out


@contextlib.contextmanager
def parent_run(name: str, config: Mapping[str, Any], tags: Mapping[str, str] | None = None) -> Iterator[Any]:
    """Open the invocation's parent run, logging ``config`` as params and as ``config.json``."""
    owner = {OWNER_HOST: socket.gethostname(), OWNER_PID: str(os.getpid())}  # for finding it dead later
    with _killed_on_interrupt() as opened, mlflow.start_run(run_name=name, tags={**owner, **(tags or {})}) as run:
        opened.append(run.info.run_id)
        mlflow.log_params(flatten_params(config))
        log_json(dict(config), "config.json")
        yield run


def log_dataset(data, name: str, source: str, context: str = "training") -> None:
    """Log the graph ``data`` as the active run's MLflow dataset input (the UI's Dataset column): ``name``, ``source``
    (the ``--dataset`` spec), a digest and the schema and shape of its features and labels; no data is copied.
    Sparse features are described by their labels only (densifying them for a digest is what users avoid)."""
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    def array(v):
        return v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v

    x, y = getattr(data, "x", None), getattr(data, "y", None)
    targets = None if y is None else np.asarray(array(y))
    dense = isinstance(x, np.ndarray) or (isinstance(x, torch.Tensor) and x.layout == torch.strided)
    if dense and x.ndim == 2:
        features = array(x)
    else:
        features, targets = (targets if targets is not None else np.zeros(0)), None
    from mlflow.data.code_dataset_source import CodeDatasetSource  # noqa: PLC0415

    # a loader spec, not a file URI ("cora", "synthetic:1000", "user:a.csv:b.csv"): MLflow has no resolver for it
    src = CodeDatasetSource({"graphlearn.dataset": source})
    ds = mlflow.data.from_numpy(features, targets=targets, source=src, name=name)
    for attempt in range(3):
        try:
            mlflow.log_input(ds, context=context)
            return
        except mlflow.exceptions.MlflowException as e:
            # a tracking server creates a dataset on first use without a lock: two jobs logging the same graph at
            # once collide on its unique key, and the loser's retry finds the winner's
            if "duplicate key" not in str(e) and "UNIQUE constraint" not in str(e):
                raise
            if attempt == 2:
                log.warning("dataset input not logged (the store kept refusing it: %s)", str(e).splitlines()[0])
                return
            time.sleep(0.2 * (attempt + 1))


@contextlib.contextmanager
def resume_run(run_id: str) -> Iterator[Any]:
    """Reopen the parent run ``run_id`` (``--resume``): its params and config stay as logged."""
    with _killed_on_interrupt() as opened, mlflow.start_run(run_id=run_id) as run:
        opened.append(run.info.run_id)
        yield run


@contextlib.contextmanager
def _killed_on_interrupt():
    """An interrupt (Ctrl-C, or SIGTERM, which the CLI turns into one) anywhere inside leaves the run opened inside
    (its id appended to the yielded list) KILLED, not FAILED: MLflow's own context manager ends a run FAILED on any
    exception, so the status is corrected once it has."""
    opened: list[str] = []
    try:
        yield opened
    except KeyboardInterrupt:
        client = mlflow.tracking.MlflowClient()
        for run_id in opened:
            client.set_terminated(run_id, "KILLED")
            # a nested run the interrupt caught while it was being created (before it was handed back) is still
            # RUNNING: every run of this job is this process's, so all that are left RUNNING are KILLED
            if not client.get_run(run_id).data.tags.get("mlflow.parentRunId"):
                mark_stale_runs(run_id)
        raise


def mark_stale_runs(run_id: str) -> list[str]:
    """Runs of the job ``run_id`` (it and its nested runs) still RUNNING although their process is gone (a
    SIGKILL, a lost machine) are marked KILLED; returns their ids."""
    client = mlflow.tracking.MlflowClient()
    stale = [r for r in [get_run(run_id), *child_runs(run_id)] if r.info.status == "RUNNING"]
    for r in stale:
        client.set_terminated(r.info.run_id, "KILLED")
    return [r.info.run_id for r in stale]


@contextlib.contextmanager
def child_run(name: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """A nested run (one per seed / model) under the active parent run."""
    with _killed_on_interrupt() as opened, mlflow.start_run(run_name=name, nested=True) as run:
        opened.append(run.info.run_id)
        if params:
            mlflow.log_params(flatten_params(params))
        yield run


_INVALID_METRIC_CHARS = re.compile(r"[^\w\-. :/]")


def current_uri() -> str:
    """The tracking URI runs go to."""
    return mlflow.get_tracking_uri()


def metric_name(name: str) -> str:
    """MLflow metric names allow alphanumerics and ``_-. :/``; model names like ``GCN+SE`` become ``GCN_SE``."""
    return _INVALID_METRIC_CHARS.sub("_", name)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    mlflow.log_metrics({metric_name(k): float(v) for k, v in metrics.items()}, step=step)


def log_curve(curve: list[Mapping[str, float]], prefix: str = "", first_step: int = 1) -> None:
    """Log a whole per-epoch curve (``curve[i]`` = metrics of epoch ``first_step + i``) with ``step=epoch``.

    One batched call per 1000 values instead of one database write per epoch: per-epoch ``log_metrics`` against
    the SQLite store costs more than a full-batch epoch on small graphs.
    """
    import time

    from mlflow.entities import Metric

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_curve needs an active MLflow run")
    now = int(time.time() * 1000)
    metrics = [
        Metric(metric_name(f"{prefix}{k}"), float(v), now, first_step + i)
        for i, m in enumerate(curve)
        for k, v in m.items()
    ]
    client = mlflow.tracking.MlflowClient()
    for start in range(0, len(metrics), 1000):
        client.log_batch(run.info.run_id, metrics=metrics[start : start + 1000])


def _log_file(writer, artifact_path: str) -> None:
    """Write through ``writer(path)`` into a temporary folder and log it under ``artifact_path``."""
    directory, filename = os.path.split(artifact_path)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, filename)
        writer(path)
        mlflow.log_artifact(path, artifact_path=directory or None)


def log_json(obj: Any, artifact_path: str) -> None:
    def write(path):
        with open(path, "w") as f:
            json.dump(obj, f, indent=2, default=str)

    _log_file(write, artifact_path)


def log_text(text: str, artifact_path: str) -> None:
    mlflow.log_text(text, artifact_path)


def log_figure(fig, artifact_path: str) -> None:
    mlflow.log_figure(fig, artifact_path)


def log_file(path: str | os.PathLike, artifact_path: str | None = None) -> None:
    mlflow.log_artifact(str(path), artifact_path=artifact_path)


def log_torch_model(
    model, name: str, input_example, pip_requirements: list[str] | None = None, params: Mapping[str, Any] | None = None
) -> str:
    """Log ``model`` as an MLflow model (``pytorch`` + ``pyfunc`` flavours) in MLflow's ``pt2`` format
    (``torch.export``: the graph and weights, no pickled Python), and return its ``models:/`` URI.

    ``input_example`` (a NumPy array) must have at least 2 rows: ``torch.export`` would otherwise pin the batch
    size to 1. Load with ``mlflow.pyfunc.load_model(uri).predict(features)`` or ``mlflow.pytorch.load_model``.
    """
    if getattr(input_example, "ndim", 0) < 1 or len(input_example) < 2:
        raise ValueError(
            f"input_example needs a batch of at least 2 rows (got shape "
            f"{getattr(input_example, 'shape', None)}): torch.export would fix the batch size"
        )
    import mlflow.pytorch  # noqa: PLC0415
    import torch  # noqa: PLC0415

    if pip_requirements is None:
        pip_requirements = [f"torch=={torch.__version__.split('+')[0]}"]
    info = mlflow.pytorch.log_model(
        model,
        name=name,
        input_example=input_example,
        serialization_format="pt2",
        pip_requirements=pip_requirements,
        params=dict(params) if params else None,
    )
    return info.model_uri


def artifact_uri(run_id: str, path: str = "") -> str:
    return mlflow.get_run(run_id).info.artifact_uri.rstrip("/") + ("/" + path if path else "")


def download_artifact(run_id: str, path: str, dst: str | os.PathLike | None = None) -> str:
    """Fetch one artifact of ``run_id`` to a local path (used for ``--features pretrained:<run id>``)."""
    return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(dst) if dst else None)


__all__ = [
    "configure",
    "default_store",
    "parent_run",
    "child_run",
    "log_metrics",
    "log_curve",
    "log_json",
    "log_text",
    "log_figure",
    "log_file",
    "log_torch_model",
    "artifact_uri",
    "download_artifact",
]


# ------------------------------------------------------------------ the cold-start endpoint as an MLflow model
def endpoint_signature(default_k: int = 10):
    """The endpoint's signature: its output columns and the ``k`` param. The input is left open on purpose: a
    tensor spec would make MLflow refuse float32 arrays and lists of rows in-process, and 1433 unnamed columns
    would put the whole schema into every error. The endpoint checks the input itself (width, numbers, NaN/inf)
    with one-line errors; the width and normalisation are in the model's metadata (``graphlearn.in_channels``,
    ``graphlearn.feature_norm``)."""
    from mlflow.models import ModelSignature  # noqa: PLC0415
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema  # noqa: PLC0415
    from mlflow.types.schema import Array  # noqa: PLC0415

    return ModelSignature(
        inputs=None,
        outputs=Schema(
            [
                ColSpec("long", "class_id"),
                ColSpec("string", "class_name"),
                ColSpec(Array("string"), "neighbor_ids"),
                ColSpec(Array("double"), "scores"),
                ColSpec(Array("double"), "embedding"),
            ]
        ),
        params=ParamSchema([ParamSpec("k", "long", default_k)]),
    )


def log_endpoint(
    export_folder: str | os.PathLike,
    metadata: Mapping[str, Any],
    name: str = "endpoint",
    registered_model_name: str | None = None,
    pip_requirements: list[str] | None = None,
):
    """Log the export folder as a pyfunc model from code (:mod:`graphlearn.tracking.endpoint_model`) into the
    active run, registering it under ``registered_model_name`` when given; ``metadata`` (e.g. ``in_channels``,
    ``feature_norm``, ``dataset``) goes into the MLmodel file as ``graphlearn.<key>``. Returns MLflow's
    ``ModelInfo``."""
    import mlflow.pyfunc  # noqa: PLC0415

    from graphlearn import __version__  # noqa: PLC0415

    code = Path(__file__).with_name("endpoint_model.py")
    if pip_requirements is None:
        import faiss  # noqa: PLC0415
        import torch  # noqa: PLC0415

        pip_requirements = [
            f"graphlearn=={__version__}",
            f"torch=={torch.__version__.split('+')[0]}",
            f"faiss-cpu=={faiss.__version__}",
            f"mlflow=={mlflow.__version__}",
        ]
    import warnings  # noqa: PLC0415

    with warnings.catch_warnings():
        # MLflow suggests type hints (they would refuse float32 arrays and lists, which the signature accepts) and
        # an input example (the signature already fixes the input)
        for message in ("Add type hints", "An input example was not provided"):
            warnings.filterwarnings("ignore", message=f".*{message}", category=UserWarning)
        return _log_pyfunc(name, code, export_folder, metadata, pip_requirements, registered_model_name)


def _log_pyfunc(name, code, export_folder, metadata, pip_requirements, registered_model_name):
    import mlflow.pyfunc  # noqa: PLC0415

    return mlflow.pyfunc.log_model(
        name=name,
        python_model=str(code),
        artifacts={"export": str(export_folder)},
        signature=endpoint_signature(),
        metadata={f"graphlearn.{k}": v for k, v in metadata.items()},
        pip_requirements=pip_requirements,
        registered_model_name=registered_model_name,
    )


def set_alias(name: str, alias: str, version: str | int) -> None:
    mlflow.tracking.MlflowClient().set_registered_model_alias(name, alias, str(version))


def get_alias(name: str, alias: str):
    """The model version behind ``name@alias``, or ``None``."""
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        return mlflow.tracking.MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def tag_model_version(name: str, version: str | int, tags: Mapping[str, Any]) -> None:
    client = mlflow.tracking.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, str(value))


def get_run(run_id: str):
    """The run ``run_id`` of the current store, or a ``ValueError`` naming it and the store."""
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        return mlflow.get_run(run_id)
    except MlflowException:
        raise ValueError(f"unknown run id {run_id!r} in the tracking store {mlflow.get_tracking_uri()}") from None


def list_artifacts(run_id: str, path: str | None = None) -> list[str]:
    return [a.path for a in mlflow.tracking.MlflowClient().list_artifacts(run_id, path)]


def log_folder(folder: str | os.PathLike, artifact_path: str, last: str | None = None) -> None:
    """Log every file of ``folder`` under ``artifact_path``, the file named ``last`` after all others (a reader
    that finds it knows the upload finished)."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    for path in sorted(files, key=lambda p: p.name == last):
        mlflow.log_artifact(str(path), artifact_path=artifact_path)


def set_run_tags(run_id: str, tags: Mapping[str, Any]) -> None:
    client = mlflow.tracking.MlflowClient()
    for key, value in tags.items():
        client.set_tag(run_id, key, str(value))


def check_model(uri: str):
    """MLflow's ``ModelInfo`` of ``uri``, or a ``ValueError`` naming the URI and the store (unknown registered
    model, version, alias or run)."""
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        return mlflow.models.get_model_info(uri)
    except (MlflowException, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"model {uri!r} not found in the tracking store {mlflow.get_tracking_uri()}: {first}"
        ) from None


def load_pyfunc(uri: str):
    """``mlflow.pyfunc.load_model(uri)`` with :func:`check_model`'s one-line error."""
    import warnings  # noqa: PLC0415

    import mlflow.pyfunc  # noqa: PLC0415

    check_model(uri)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Add type hints", category=UserWarning)
        return mlflow.pyfunc.load_model(uri)


def child_runs(run_id: str) -> list:
    """The nested runs of ``run_id``, oldest first."""
    runs = mlflow.search_runs(
        experiment_ids=[get_run(run_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{run_id}'",
        output_format="list",
        order_by=["attributes.start_time ASC"],
    )
    return list(runs)


def find_artifact(run_id: str, path: str) -> str | None:
    """The id of the run holding artifact ``path``: ``run_id`` itself, else its oldest nested run that has it."""
    folder = os.path.dirname(path) or None
    for rid in [run_id, *(r.info.run_id for r in child_runs(run_id))]:
        if path in list_artifacts(rid, folder):
            return rid
    return None


OWNER_HOST, OWNER_PID = "graphlearn.host", "graphlearn.pid"


def owner_alive(run) -> bool | None:
    """Whether the process that opened ``run`` still runs: ``True`` / ``False`` when it ran on this host, ``None``
    when that cannot be told (another host, or a run without owner tags)."""
    host, pid = run.data.tags.get(OWNER_HOST), run.data.tags.get(OWNER_PID)
    if host != socket.gethostname() or not (pid or "").isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def interrupted_runs(job: str, experiment: str = DEFAULT_EXPERIMENT) -> list:
    """Parent runs of ``job`` that a kill interrupted, newest first: ``KILLED`` ones (Ctrl-C, SIGTERM), and
    ``RUNNING`` ones whose process on this host is gone (a SIGKILL). Failed runs (an error) are not among them."""
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        return []
    runs = mlflow.search_runs(
        experiment_ids=[exp.experiment_id],
        filter_string=f"tags.job = '{job}' and attributes.status != 'FINISHED' and attributes.status != 'FAILED'",
        order_by=["attributes.start_time DESC"],
        output_format="list",
    )
    return [
        r
        for r in runs
        if "mlflow.parentRunId" not in r.data.tags
        and (r.info.status == "KILLED" or (r.info.status == "RUNNING" and owner_alive(r) is False))
    ]


def latest_run(job: str, experiment: str = DEFAULT_EXPERIMENT) -> str:
    """The id of the newest finished parent run of ``job`` (tag ``job``) in ``experiment``, or a ``ValueError``."""
    exp = mlflow.get_experiment_by_name(experiment)
    runs = (
        mlflow.search_runs(
            experiment_ids=[exp.experiment_id],
            filter_string=f"tags.job = '{job}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            output_format="list",
        )
        if exp is not None
        else []
    )
    runs = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    if not runs:
        raise ValueError(
            f"no finished `graphlearn {job}` run in experiment {experiment!r} of {mlflow.get_tracking_uri()}; "
            f"run `graphlearn {job}` first (or pass --run <run id>)"
        )
    return runs[0].info.run_id
