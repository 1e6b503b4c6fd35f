"""``--features``: replace a graph's node features by exported ones (a file, or a pretraining run's artifact)."""

from __future__ import annotations

import copy
import logging
import tempfile

from graphlearn import tracking
from graphlearn.features import FEATURES_FILE, load_features

log = logging.getLogger(__name__)


def one_line(error) -> str:
    return "; ".join(line.strip() for line in str(error).splitlines() if line.strip())


ARTIFACT_DIR = "features"  # where `graphlearn pretrain` logs features.npz / features.json


def fetch(spec: str, into: str | None = None, tracking_uri: str | None = None) -> str:
    """A local path for ``spec``: a path as is, or ``pretrained:<run id>`` downloaded from MLflow into ``into``
    (default: a new temporary folder the caller removes)."""
    if not spec.startswith("pretrained:"):
        return spec
    run_id = spec.partition(":")[2]
    if not run_id:
        raise ValueError(f"--features pretrained:<run id> needs a run id, got {spec!r}")
    tracking.configure(tracking_uri)  # the job's --tracking-uri (else $MLFLOW_TRACKING_URI, else ./mlruns)
    try:
        return tracking.download_artifact(
            run_id, f"{ARTIFACT_DIR}/{FEATURES_FILE}", into or tempfile.mkdtemp(prefix="graphlearn-features-")
        )
    except Exception as e:  # MlflowException (unknown run, missing artifact) is not a ValueError
        where = tracking.mlflow.get_tracking_uri()
        try:
            run = tracking.get_run(run_id)
        except Exception:  # noqa: BLE001  (an unknown run: MLflow's own message says so)
            run = None
        if run is not None:
            status, job = run.info.status, run.data.tags.get("job", "non-graphlearn")
            if status != "FINISHED":
                raise ValueError(
                    f"run {run_id} ({job}) is {status}, not FINISHED: it has no {ARTIFACT_DIR}/{FEATURES_FILE}; "
                    "use the features of a finished `graphlearn pretrain` run"
                ) from None
            raise ValueError(
                f"run {run_id} ({job}, {status}) has no {ARTIFACT_DIR}/{FEATURES_FILE} in {where}; "
                "--features pretrained:<run id> takes a `graphlearn pretrain` run"
            ) from None
        raise ValueError(f"cannot fetch features of run {run_id!r} from {where}: {one_line(e)}") from None


def resolve_features(spec: str, data, tracking_uri: str | None = None):
    """A copy of ``data`` whose ``x`` is the features named by ``spec``; ``data.features_meta`` records their origin."""
    if spec.startswith("pretrained:"):
        with tempfile.TemporaryDirectory(prefix="graphlearn-features-") as tmp:  # the download is removed after
            x, meta = load_features(fetch(spec, tmp, tracking_uri))
    else:
        x, meta = load_features(fetch(spec))
    if x.size(0) != data.num_nodes:
        raise ValueError(
            f"features {spec!r} have {x.size(0)} rows but {getattr(data, 'name', 'the graph')} has "
            f"{data.num_nodes} nodes"
        )
    if meta.get("dataset") not in (None, getattr(data, "name", None)):
        log.warning("features %s were made for dataset %r, used on %r", spec, meta["dataset"], data.name)
    out = copy.copy(data)
    out.x = x
    out.features_meta = dict(meta, source=spec)
    return out
