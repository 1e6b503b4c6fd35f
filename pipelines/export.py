"""``graphlearn export``: a Cold Brew run's embeddings for every node, with a FAISS index, as files, as artifacts of
that run, and as a registered MLflow model that answers cold-start queries.

    graphlearn export --run <run id>        # the student, exact index, registered as graphlearn-cora-student
    graphlearn export --run latest          # the newest finished coldbrew run of the experiment
    graphlearn export --run <run id> --model glnn --index hnsw --no-register

Writes ``--out`` (default ``exports/<run id>/<model>``): ``embeddings.npy``, ``embeddings.parquet`` (original node
id, source, embedding), ``ids.json``, ``index.faiss``, ``metadata.json`` and ``model.pt`` (docs/export.md). The
folder is built under a temporary name and renamed; a killed export leaves the previous one as it was. It is then
logged under ``export/<model>-<time>/`` of the run (``metadata.json`` last; the run's tag ``graphlearn.export.<model>``
names the newest complete upload) and, unless ``--no-register``, logged as a pyfunc model registered in the MLflow
Model Registry (``--name``, default ``graphlearn-<dataset>-<model>``); the alias ``champion`` is set on the first
version, or where ``--alias`` says.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import re
import tempfile
from pathlib import Path

from tqdm.auto import tqdm

from graphlearn import sparse, tracking
from graphlearn.export import EXPORT_MODELS, INDEX_KINDS, STUDENT_SPACES, export_embeddings
from graphlearn.export.index import set_threads
from pipelines import _common

log = logging.getLogger(__name__)

# --model -> the run's model file (pipelines/coldbrew.py: MODEL_FILES); teacher vectors live in the student file
MODEL_FILE = {"student": "coldbrew_student.pt", "teacher": "coldbrew_student.pt", "glnn": "glnn.pt", "mlp": "mlp.pt"}
DEFAULT_ALIAS = "champion"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--run",
        required=True,
        help="MLflow run id of a `graphlearn coldbrew` job (its parent run, printed at its end), or `latest`",
    )
    parser.add_argument("--model", choices=EXPORT_MODELS, default="student", help="whose vectors to export")
    parser.add_argument(
        "--space",
        choices=("auto", *STUDENT_SPACES),
        default="auto",
        help="student vectors: auto = retrieval when the student learnt a retrieval head (graphlearn coldbrew's "
        "default), else coldbrew; coldbrew = teacher embedding for nodes with edges, MLP1's estimate for the rest; "
        "mlp1 = MLP1's estimate for every node; retrieval = the student's retrieval head (a student trained with "
        "retrieval_dim > 0) for every node and query (docs/export.md)",
    )
    parser.add_argument("--index", choices=INDEX_KINDS, default="flat", help="FAISS index: exact or approximate")
    parser.add_argument(
        "--chunk-size", type=_common.positive_int, default=65536, help="nodes per chunk (bounds the memory)"
    )
    parser.add_argument("--name", default=None, help="registered model name (default graphlearn-<dataset>-<model>)")
    parser.add_argument(
        "--alias",
        default=None,
        help=f"set this alias on the new version (default: {DEFAULT_ALIAS} on a model's first version only)",
    )
    parser.add_argument("--no-register", action="store_true", help="write and log the files; register no model")
    _common.add_job_arguments(parser, seed=False)


def _run_config(run_id: str, tmp: Path) -> dict:
    run = tracking.get_run(run_id)
    if run.data.tags.get("job") != "coldbrew":
        raise ValueError(
            f"run {run_id} is a {run.data.tags.get('job', 'non-graphlearn')!r} run; export needs the parent run of "
            "a `graphlearn coldbrew` job (printed at its end as 'MLflow run ...')"
        )
    return json.loads(Path(tracking.download_artifact(run_id, "config.json", tmp)).read_text())


def _model_file(run_id: str, kind: str, config: dict, tmp: Path) -> Path:
    name = MODEL_FILE[kind]
    holder = tracking.find_artifact(run_id, f"model/{name}")  # the first seed's nested run
    if holder is None:
        models = config.get("coldbrew", {}).get("models")
        raise ValueError(
            f"run {run_id} has no {kind} model (model/{name}); it was trained with models={models}, and only the "
            "first seed's coldstart models are kept"
        )
    return Path(tracking.download_artifact(holder, f"model/{name}", tmp))


def load_run_data(config: dict, args):
    """The graph a coldbrew run trained on, reloaded from its recorded config (dataset, split, seed, features,
    feature normalisation) with this job's data root, tracking store and threads."""
    data_args = argparse.Namespace(
        dataset=config["dataset"],
        data_root=args.data_root,
        split=config.get("split", 0),
        seed=config.get("seed", 0),
        feature_norm=config.get("feature_norm", "none"),
        features=None if config.get("features") in (None, "raw") else config["features"],
        tracking_uri=args.tracking_uri,
        threads=args.threads,
    )
    data = _common.load_data(data_args)
    data.x = sparse.compact(data.x)  # as the coldbrew job keeps it (a wide bag of words stays CSR)
    return data


def registered_name(dataset: str, kind: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"graphlearn-{dataset}-{kind}").strip("-")


def run(args) -> dict:
    if args.space != "auto" and args.model != "student":
        raise ValueError(
            f"--space {args.space} chooses among the student's vectors; --model {args.model} exports its own "
            "(leave --space out)"
        )
    _common.check_out(args.out)
    if not args.no_register:
        _common.check_registry_names(args.name, args.alias)
    tracking.configure(args.tracking_uri, args.experiment)
    _common.setup_threads(args)
    set_threads(_common.job_threads(args))
    if args.run == "latest":
        args.run = tracking.latest_run("coldbrew", args.experiment)
    with tempfile.TemporaryDirectory(prefix="graphlearn-export-") as tmp_name:
        tmp = Path(tmp_name)
        config = _run_config(args.run, tmp)
        model_path = _model_file(args.run, args.model, config, tmp)
        query_model = _model_file(args.run, "student", config, tmp) if args.model == "teacher" else None
        data = load_run_data(config, args)
        ids = list(data.id_mapping.ids) if getattr(data, "id_mapping", None) is not None else None
        names = list(getattr(data, "label_names", None) or []) or None
        out = Path(args.out or Path("exports") / args.run / args.model)
        bar = tqdm(total=data.num_nodes, desc=f"export {args.model}", unit="node", disable=args.no_progress)
        folder = export_embeddings(
            out,
            args.model,
            model_path,
            data.x,
            ids=ids,
            class_names=names,
            feature_norm=config.get("feature_norm", "none"),
            space=args.space,
            index=args.index,
            chunk_size=args.chunk_size,
            query_model_path=query_model,
            metadata={
                "run_id": args.run,
                "dataset": config["dataset"],
                "features": config.get("features", "raw"),
                "tracking_uri": tracking.current_uri(),
            },
            progress=bar.update,
        )
        bar.close()
    meta = json.loads((folder / "metadata.json").read_text())
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    artifact_path = f"export/{args.model}-{stamp}"
    with tracking.mlflow.start_run(run_id=args.run):
        tracking.log_folder(folder, artifact_path, last="metadata.json")
        tracking.set_run_tags(args.run, {f"graphlearn.export.{args.model}": artifact_path})
        result = {"folder": str(folder), "artifact_path": artifact_path, "metadata": meta, "model_uri": None}
        if not args.no_register:
            name = args.name or registered_name(config["dataset"], args.model)
            info = tracking.log_endpoint(
                folder,
                {
                    **meta["preprocessing"],
                    "dataset": config["dataset"],
                    "run_id": args.run,
                    "model": args.model,
                    "space": meta["space"],
                    "dimension": meta["dimension"],
                },
                registered_model_name=name,
            )
            version = info.registered_model_version
            alias = args.alias or (DEFAULT_ALIAS if tracking.get_alias(name, DEFAULT_ALIAS) is None else None)
            tracking.tag_model_version(
                name,
                version,
                {
                    "run_id": args.run,
                    "dataset": config["dataset"],
                    "model": args.model,
                    "space": meta["space"],
                    "index": args.index,
                    "dimension": meta["dimension"],
                    "num_nodes": meta["num_nodes"],
                },
            )
            if alias:
                tracking.set_alias(name, alias, version)
            result.update(
                model_uri=f"models:/{name}/{version}",
                registered_model=name,
                version=int(version),
                alias=alias,
                alias_uri=f"models:/{name}@{alias}" if alias else None,
            )
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(
            f"exported {meta['num_nodes']} {args.model} embeddings (dimension {meta['dimension']}, "
            f"{args.index} index) to {folder}"
        )
        print(f"logged as artifacts {artifact_path}/ of run {args.run} ({tracking.current_uri()})")
        if result["model_uri"]:
            uri = result["alias_uri"] or result["model_uri"]
            print(f"registered {result['model_uri']}" + (f" (alias {alias}: {uri})" if alias else ""))
            print(f"serve it: graphlearn serve --model {uri}")
            print(f"query it: graphlearn neighbors --model {uri} --features new_nodes.csv --k 10")
    return result


if __name__ == "__main__":
    _common.script_main("export")
