"""``graphlearn update``: a new Cold Brew student that the recommender can query against the index it already has.

    graphlearn update --from models:/graphlearn-cora-student@champion            # new seed: old seed + 100
    graphlearn update --from models:/graphlearn-cora-student/1 --seed 7 --no-promote

Reads the registered endpoint (its export folder: the old student and the old index), reloads the graph its run
trained on (same dataset, split, features), and trains, on the old run's cold-start split, two new students with
``--seed``: an unconstrained one (``independent``) and a compatible one (BCT influence loss in the old space, PCT
focal distillation of the old student's logits; :func:`graphlearn.methods.coldbrew.train_update`). It reports, for
both, retrieval old/old, new/new and new-query/old-index (recall@10 of isolated nodes' removed edges, same-class
precision@10), accuracy and the negative flip rate (old right, new wrong), in one MLflow run (tag ``job=update``).

The compatible student is registered as the next version of the same model, **with the old index** (the vectors,
ids and FAISS index of the old version, unchanged: no re-indexing) and its own ``model.pt``; the numbers go on the
version as tags. It gets the alias (``--alias``, default ``champion``) only if it is compatible on validation
(validation nodes as queries, their edges as truth: new/old recall and precision at least old/old); the test
numbers are reported, never used to decide.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from graphlearn import model_io, tracking
from graphlearn.io import atomic_dir, atomic_write_text
from pipelines import _common

log = logging.getLogger(__name__)

MODES = ("independent", "compatible")


def add_arguments(parser) -> None:
    parser.add_argument("--from", dest="source", required=True, help="the current version: models:/<name>@<alias>")
    parser.add_argument("--seed", type=int, default=None, help="the new models' seed (default: old seed + 100)")
    parser.add_argument("--alias", default="champion", help="alias moved to the new version if it is compatible")
    parser.add_argument("--no-promote", action="store_true", help="register the new version, move no alias")
    parser.add_argument("--k", type=_common.positive_int, default=10, help="retrieval cut-off (default 10)")
    _common.add_job_arguments(parser, seed=False)


def _old_endpoint(uri: str, tmp: Path):
    """(model info, export folder, old student, old index) of a registered endpoint."""
    from graphlearn.export import read_export  # noqa: PLC0415
    from graphlearn.methods.coldbrew import ColdBrewStudent  # noqa: PLC0415

    info = tracking.check_model(uri)
    local = Path(tracking.mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp / "old")))
    found = sorted(local.rglob("metadata.json"))
    if not found:
        raise ValueError(f"{uri} is not a graphlearn endpoint (no export folder among its artifacts)")
    folder = found[0].parent
    export = read_export(folder, verify=True)
    student = model_io.load(folder / "model.pt")
    if not isinstance(student, ColdBrewStudent):
        raise ValueError(
            f"{uri} serves a {type(student).__name__}; an update needs a Cold Brew student endpoint "
            "(exported with --model student or teacher)"
        )
    return info, folder, export, student


def _scores(old, new, result, split, data, old_index, node_sets, k, space):
    """Retrieval compatibility for each set of query nodes (the new index built once) and classification
    compatibility: ``([retrieval per node set], classification)``."""
    from graphlearn.data.splits import group_masks  # noqa: PLC0415
    from graphlearn.evaluation.compat import classification_compatibility, retrieval_compatibility  # noqa: PLC0415
    from graphlearn.export.spaces import query_vectors, student_vectors  # noqa: PLC0415
    from graphlearn.sparse import take_rows  # noqa: PLC0415

    x = split.x
    query_space = "retrieval" if space == "retrieval" else "coldbrew"
    new_index = student_vectors(new, x, "retrieval" if space == "retrieval" else result.index_space)
    retrieval = [
        retrieval_compatibility(
            query_vectors(old, take_rows(x, nodes), query_space),
            old_index,
            query_vectors(new, take_rows(x, nodes), query_space),
            new_index,
            edge_index=data.edge_index,
            y=data.y,
            query_nodes=nodes,
            k=k,
        )
        for nodes in node_sets
    ]
    classes = classification_compatibility(result.old_pred, result.pred, data.y, group_masks(split))
    return retrieval, classes


def run(args) -> dict:
    from graphlearn.data.protocols import apply_protocol  # noqa: PLC0415
    from graphlearn.export.index import set_threads  # noqa: PLC0415
    from graphlearn.export.spaces import query_vectors  # noqa: PLC0415
    from graphlearn.methods.coldbrew import ColdBrewConfig, train_update  # noqa: PLC0415
    from pipelines.export import _run_config, load_run_data  # noqa: PLC0415

    tracking.configure(args.tracking_uri, args.experiment)
    _common.setup_threads(args)
    set_threads(_common.job_threads(args))
    if not args.source.startswith("models:/"):
        raise ValueError(
            f"--from must be a registered model URI models:/<name>@<alias> or /<version> ({args.source!r})"
        )
    _common.check_out(args.out)
    if not args.no_promote:
        _common.check_registry_names(alias=args.alias)
    name = args.source[len("models:/") :].split("@")[0].split("/")[0]
    with tempfile.TemporaryDirectory(prefix="graphlearn-update-") as tmp_name:
        tmp = Path(tmp_name)
        info, folder, export, old = _old_endpoint(args.source, tmp)
        run_id = export.metadata.get("run_id") or info.run_id
        config = _run_config(run_id, tmp)
        data = load_run_data(config, args)
        if data.num_nodes != export.metadata["num_nodes"]:
            raise ValueError(
                f"the graph of run {run_id} now has {data.num_nodes} nodes but {args.source} indexes "
                f"{export.metadata['num_nodes']}"
            )
        old_seed = int(config.get("seed", 0))
        seed = old_seed + 100 if args.seed is None else args.seed
        split = apply_protocol(data, "coldstart", old_seed, config.get("split_seed"))
        cb = ColdBrewConfig.from_dict(config.get("coldbrew", {}))
        old_index = torch.from_numpy(np.array(export.vectors))  # a copy: the memory map is read-only
        iso = split.isolated_mask.nonzero().view(-1)
        val = split.val_mask.nonzero().view(-1)
        report: dict = {"from": args.source, "run_id": run_id, "seed": seed, "modes": {}}
        students = {}
        with tracking.parent_run(
            f"update:{name}",
            {"job": "update", "from": args.source, "source_run": run_id, "seed": seed, "k": args.k},
            tags={"job": "update"},
        ) as parent:
            space = export.metadata.get("space", "coldbrew")
            # BCT acts on MLP1's space: with a retrieval-space index its MLP1 target is the old MLP1's estimates
            mlp1_index = query_vectors(old, split.x) if space == "retrieval" else old_index
            for mode in MODES:
                cfg = cb
                if space == "retrieval" and mode == "independent":  # an ordinary new student learns its own head
                    cfg = ColdBrewConfig.from_dict({**cb.to_dict(), "retrieval_dim": old.retrieval_dim})
                result = train_update(split, old, mlp1_index, cfg, seed=seed, mode=mode)
                if space == "retrieval" and mode == "compatible":
                    # the compatible student keeps the old head's feature projection and mix: its vectors are
                    # [old projection of the features, the NEW classifier's class distribution], comparable with
                    # the old index by construction (same classes, same projection)
                    result.student.retrieval = copy.deepcopy(old.retrieval)
                    result.student.retrieval_dim = old.retrieval_dim
                (test_r, val_r), classes = _scores(
                    old, result.student, result, split, data, old_index, (iso, val), args.k, space
                )
                report["modes"][mode] = {"test": test_r, "validation": val_r, "classification": classes}
                students[mode] = result.student
                metrics = {f"{mode}.test.{p}.{m}": v[m] for p, v in test_r.items() for m in ("recall", "precision")}
                metrics |= {f"{mode}.val.{p}.{m}": v[m] for p, v in val_r.items() for m in ("recall", "precision")}
                metrics |= {f"{mode}.{g}.{m}": v for g, c in classes.items() for m, v in c.items()}
                tracking.log_metrics(metrics)
            tracking.log_json(report, "update.json")
            comp = report["modes"]["compatible"]["validation"]
            compatible = all(comp["new/old"][m] >= comp["old/old"][m] for m in ("recall", "precision"))
            report["compatible_on_validation"] = compatible
            # the new version: the old index as it is, the compatible student as its model
            new_folder = tmp / "new" / "export"
            with atomic_dir(new_folder) as out:
                for f in folder.iterdir():
                    if f.is_file() and f.name not in ("model.pt", "metadata.json"):
                        shutil.copyfile(f, out / f.name)
                model_io.save(students["compatible"], out / "model.pt", config=cb.to_dict())
                from graphlearn.export.store import sha256  # noqa: PLC0415

                meta = dict(export.metadata)
                meta["model_sha256"] = sha256(out / "model.pt")
                meta["update"] = {
                    "from": args.source,
                    "mode": "compatible",
                    "seed": seed,
                    "update_run": parent.info.run_id,
                }
                atomic_write_text(out / "metadata.json", json.dumps(meta, indent=2, default=str) + "\n")
            mi = tracking.log_endpoint(
                new_folder,
                {**meta["preprocessing"], "dataset": config["dataset"], "run_id": run_id, "update_of": args.source},
                registered_model_name=name,
            )
            version = mi.registered_model_version
            c_test = report["modes"]["compatible"]["test"]
            tags = {
                "update_of": args.source,
                "update_run": parent.info.run_id,
                "compatible_on_validation": compatible,
                "val.new_old_recall": f"{comp['new/old']['recall']:.2f}",
                "val.old_old_recall": f"{comp['old/old']['recall']:.2f}",
                "test.new_old_recall": f"{c_test['new/old']['recall']:.2f}",
                "test.old_old_recall": f"{c_test['old/old']['recall']:.2f}",
                "test.nfr": f"{report['modes']['compatible']['classification']['overall']['nfr']:.2f}",
                "test.nfr_independent": f"{report['modes']['independent']['classification']['overall']['nfr']:.2f}",
            }
            tracking.tag_model_version(name, version, tags)
            promoted = compatible and not args.no_promote
            if promoted:
                tracking.set_alias(name, args.alias, version)
            report.update(version=int(version), model_uri=f"models:/{name}/{version}", promoted=promoted)
    if args.out:  # the report, beside the MLflow run's update.json
        Path(args.out).mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(args.out) / "update.json", json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report, args)
    return report


def _print(report: dict, args) -> None:
    rows = [
        ("test old/old", "test", "old/old"),
        ("test new/new", "test", "new/new"),
        ("test new/old", "test", "new/old"),
        ("val old/old", "validation", "old/old"),
        ("val new/old", "validation", "new/old"),
    ]
    print(f"update of {report['from']} (seed {report['seed']}), recall@{args.k} / precision@{args.k} (%):")
    print(f"{'':<14}{'independent':>22}{'compatible':>22}")
    for label, where, pair in rows:
        cells = [report["modes"][m][where][pair] for m in MODES]
        print(f"{label:<14}" + "".join(f"{c['recall']:>11.2f} /{c['precision']:>8.2f}" for c in cells))
    for group in ("overall", "isolated"):
        cells = [report["modes"][m]["classification"].get(group) for m in MODES]
        if all(cells):
            acc = "".join(f"{c['new_acc']:>11.2f} /{c['nfr']:>8.2f}" for c in cells)
            print(f"{group + ' acc/NFR':<14}{acc}   (old acc {cells[0]['old_acc']:.2f})")
    verdict = "promoted" if report["promoted"] else "not promoted"
    why = "compatible on validation" if report["compatible_on_validation"] else "NOT compatible on validation"
    print(f"registered {report['model_uri']} with the old index ({why}; {verdict} to @{args.alias})")


if __name__ == "__main__":
    _common.script_main("update")
