"""End-to-end: the CLI on small graphs, tracked into a temporary MLflow store."""

import json

import mlflow
import pytest

from graphlearn.evaluation import validate_results
from pipelines.cli import main


def test_train_json_shape_runs_and_artifacts(workdir, capsys, json_out):
    rc = main(
        [
            "train",
            "--dataset",
            "synthetic:400",
            "--model",
            "mlp,gcn",
            "--runs",
            "2",
            "--epochs",
            "15",
            "--json",
            "--no-progress",
            "--out",
            str(workdir / "out"),
        ]
    )
    assert rc == 0
    results = json_out()
    validate_results(results)
    assert results["dataset"] == "synthetic:400" and results["protocol"] == "coldstart"
    assert set(results["results"]) == {"mlp", "gcn"}
    for groups in results["results"].values():
        assert {"overall", "head", "tail", "isolated"} <= set(groups)
        assert all(len(cell["values"]) == 2 for cell in groups.values())
    # The run is in the default embedded store under ./mlruns, with one nested run per model and seed.
    assert (workdir / "mlruns" / "mlflow.db").exists()
    client = mlflow.tracking.MlflowClient()
    parent = client.get_run(results["run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 4
    assert len(client.get_metric_history(children[0].info.run_id, "val")) == 15
    arts = {a.path for a in client.list_artifacts(parent.info.run_id, "results")}
    assert {
        "results/results.json",
        "results/results.md",
        "results/accuracy_by_degree.png",
        "results/accuracy_by_group.png",
    } <= arts
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "split")} == {
        "split/split.npz",
        "split/split.json",
    }
    assert json.loads((workdir / "out" / "results.json").read_text()) == results


def test_train_same_seed_same_numbers(workdir, capsys, json_out):
    args = [
        "train",
        "--dataset",
        "synthetic:300",
        "--model",
        "gcn",
        "--runs",
        "1",
        "--epochs",
        "10",
        "--json",
        "--no-progress",
    ]
    main(args)
    first = json_out()
    main(args)
    second = json_out()
    assert first["results"] == second["results"] and first["run_id"] != second["run_id"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--dataset", "nosuch"], "nosuch"),
        (["train", "--dataset", "synthetic:300", "--model", "gcn,transformer"], "transformer"),
        (["train", "--dataset", "user:only-one-file.csv"], "user:<edges file>:<nodes file>"),
    ],
)
def test_bad_input_exits_2_with_one_line(workdir, capsys, argv, message):
    assert main(argv + ["--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_datasets_lists_registry_with_presence(workdir, capsys, tmp_path, json_out):
    assert main(["datasets", "--data-root", str(tmp_path / "empty"), "--json"]) == 0
    listing = json_out()
    names = {d["name"] for d in listing["datasets"]}
    assert {"cora", "citeseer", "amazon-photo", "coauthor-cs", "chameleon", "ogbn-arxiv"} <= names
    assert not any(d["present"] for d in listing["datasets"])


@pytest.mark.needs_data
def test_datasets_sees_staged_files(workdir, capsys, shared_data, json_out):
    assert main(["datasets", "--data-root", str(shared_data), "--json"]) == 0
    present = {d["name"]: d for d in json_out()["datasets"] if d["present"]}
    assert present["cora"]["stats"]["nodes"] == 2708


def test_coldbrew_job_reports_groups_logs_runs_and_serves_student(workdir, capsys, json_out):
    import numpy as np

    from graphlearn.methods.coldbrew import load

    rc = main(
        [
            "coldbrew",
            "--dataset",
            "synthetic:300",
            "--runs",
            "2",
            "--json",
            "--no-progress",
            "--set",
            "epochs=15",
            "--set",
            "k=5",
            "--set",
            "student_hidden=16",
            "--set",
            "teacher_hidden=16",
            "--out",
            str(workdir / "out"),
        ]
    )
    assert rc == 0
    results = json_out()
    validate_results(results)
    assert results["protocol"] == "coldstart+inductive"
    assert {"MLP", "GCN", "GraphSAGE", "GCN+SE", "GLNN", "ColdBrew", "LP"} <= set(results["results"])
    for model, groups in results["results"].items():
        assert {"overall", "head", "tail", "isolated", "tran", "ind"} <= set(groups), model
        assert len(groups["isolated"]["values"]) == 2
    client = mlflow.tracking.MlflowClient()
    parent = client.get_run(results["run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 2
    assert client.get_metric_history(children[0].info.run_id, "coldstart.ColdBrew/mlp2.val_acc")
    # one metric name per protocol and model, named as in the report (GCN, GraphSAGE): no two curves share a name
    logged = set(children[0].data.metrics)
    assert {"coldstart.GCN.val_acc", "coldstart.GCN_SE.val_acc", "coldstart.GraphSAGE.val_acc"} <= logged
    assert {"inductive.GCN.val_acc", "inductive.ColdBrew/mlp2.val_acc"} <= logged
    assert not any(m.startswith(("GNN", "coldstart.GNN", "sage")) for m in logged)
    assert "results/accuracy_by_degree.png" in {a.path for a in client.list_artifacts(parent.info.run_id, "results")}
    # The first seed's student, in that seed's run: graphlearn's own file and a servable MLflow model that agree
    # on new nodes.
    first = next(c for c in children if c.data.params["seed"] == "0")
    local = load(tracking_download(first.info.run_id, "model/coldbrew_student.pt", workdir))
    served = mlflow.pyfunc.load_model(results["extra"]["student_model"])
    x = np.random.default_rng(0).random((3, local.in_channels)).astype("float32")
    import torch

    assert np.allclose(served.predict(x), local.logits(torch.from_numpy(x)).numpy(), atol=1e-4)
    assert served.predict(x[:1]).shape == (1, local.out_channels)


def tracking_download(run_id, path, dst):
    from graphlearn import tracking

    return tracking.download_artifact(run_id, path, dst)


def test_coldstart_split_seed_rules():
    from types import SimpleNamespace

    from graphlearn.data.protocols import coldstart_seed

    plain = SimpleNamespace()
    assert coldstart_seed(plain, 3) == 3  # each run its own split
    assert coldstart_seed(plain, 3, fixed=0) == 0  # --split-seed: one split for every run
    pretrained = SimpleNamespace(features_meta={"coldstart_split_seed": 2})
    assert coldstart_seed(pretrained, 5) == 2 and coldstart_seed(pretrained, 5, fixed=2) == 2
    with pytest.raises(ValueError, match="--split-seed 1 differs from the cold-start split seed 2"):
        coldstart_seed(pretrained, 5, fixed=1)
