"""End-to-end: the CLI on small graphs, tracked into a temporary MLflow store."""

import functools
import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from graphlearn.evaluation import validate_results
from pipelines.cli import main

ROOT = Path(__file__).resolve().parents[2]


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
    # each finished (model, seed) keeps its model at the selected epoch, as a graphlearn model file
    from graphlearn import model_io, tracking

    for name in ("mlp", "gcn"):
        arts = {a.path for a in client.list_artifacts(parent.info.run_id, f"seeds/{name}")}
        assert {f"seeds/{name}/seed{s}.{ext}" for s in (0, 1) for ext in ("json", "npz", "pt")} == arts
        model = model_io.load(tracking.download_artifact(parent.info.run_id, f"seeds/{name}/seed1.pt", str(workdir)))
        assert model.hparams["name"] == name and model.saved_meta == {"model": name, "seed": 1}
        assert model.saved_config["models"][name]["epochs"] == 15


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
            "--tune",
            "2",
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
        # the search's ablation row is the cold-start protocol's (the inductive one reuses the setting it chose)
        inductive = {"tran", "ind"} if model != "ColdBrew-untuned" else set()
        assert {"val_isolated", "overall", "head", "tail", "isolated", *inductive} <= set(groups), model
        assert len(groups["isolated"]["values"]) == 2
    client = mlflow.tracking.MlflowClient()
    parent = client.get_run(results["run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    # one run per seed, and the kept student's own run (logged once the search has scored every seed)
    assert sorted(c.info.run_name for c in children) == ["ColdBrew student", "seed=0", "seed=1"]
    children = [c for c in children if c.info.run_name.startswith("seed=")]
    for child in children:  # every seed keeps its models (graphlearn model files), not only the exported first one
        arts = {a.path for a in client.list_artifacts(child.info.run_id, "model")}
        assert {"model/coldbrew_student.pt", "model/glnn.pt", "model/mlp.pt"} <= arts, child.info.run_name
    assert client.get_metric_history(children[0].info.run_id, "coldstart.ColdBrew/mlp2.val_acc")
    # one metric name per protocol and model, named as in the report (GCN, GraphSAGE): no two curves share a name
    logged = set(children[0].data.metrics)
    assert {"coldstart.GCN.val_acc", "coldstart.GCN_SE.val_acc", "coldstart.GraphSAGE.val_acc"} <= logged
    assert {"inductive.GCN.val_acc", "inductive.ColdBrew/mlp2.val_acc"} <= logged
    assert not any(m.startswith(("GNN", "coldstart.GNN", "sage")) for m in logged)
    assert "results/accuracy_by_degree.png" in {a.path for a in client.list_artifacts(parent.info.run_id, "results")}
    # The first seed's student of the kept setting (in the parent run with a search; `graphlearn export` finds it
    # there or in a seed's run): graphlearn's own file and a servable MLflow model that agree on new nodes.
    from graphlearn import tracking

    holder = tracking.find_artifact(parent.info.run_id, "model/coldbrew_student.pt")
    assert holder == parent.info.run_id
    local = load(tracking_download(holder, "model/coldbrew_student.pt", workdir))
    served = mlflow.pyfunc.load_model(results["extra"]["student_model"])
    x = np.random.default_rng(0).random((3, local.in_channels)).astype("float32")
    import torch

    assert np.allclose(served.predict(x), local.logits(torch.from_numpy(x)).numpy(), atol=1e-4)
    assert served.predict(x[:1]).shape == (1, local.out_channels)
    # the model's MLflow page: the student's own accuracies and config, not every baseline's metrics
    model = mlflow.get_logged_model(results["extra"]["student_model"].removeprefix("models:/"))
    groups = ("val", "val_isolated", "overall", "head", "tail", "isolated")
    assert {m.key for m in model.metrics} == {f"{g}_acc" for g in groups}
    # its settings are those the search kept on the cold-start validation set
    kept = next(r for r in results["extra"]["search"] if r["kept"])
    k = kept["setting"].get("k", 5) if kept["candidate"] else 5
    assert model.params["coldbrew.k"] == str(k) and "coldbrew.student_hidden" in model.params


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


def test_top_level_help_imports_no_pipeline_and_subcommands_import_only_theirs():
    # `graphlearn --help` took seconds because every pipeline (torch, PyG, MLflow) was imported to build the parser
    code = (
        "import sys\n"
        "from pipelines.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('torch', 'mlflow', 'pipelines.train', 'pipelines.coldbrew') if m in sys.modules))\n"
    )
    run = functools.partial(subprocess.run, capture_output=True, text=True, cwd=ROOT, timeout=120, check=True)
    top = run([sys.executable, "-c", code, "--help"])
    assert "coldbrew" in top.stdout and "export" in top.stdout  # every subcommand listed with its help
    assert top.stdout.strip().splitlines()[-1] == "[]"
    train = run([sys.executable, "-c", code, "-v", "train", "--help"])
    assert "--model" in train.stdout
    assert "'pipelines.train'" in train.stdout and "'pipelines.coldbrew'" not in train.stdout


def test_adapt_json_is_the_only_thing_on_stdout(workdir, capsys, json_out, shared_data):
    # its per-epoch progress lines ("[grda seed 0] epoch 10: ...") used to precede the JSON on stdout
    argv = ["adapt", "--dataset", "dg15", "--data-root", str(shared_data), "--models", "grda", "--seeds", "1"]
    assert main([*argv, "--epochs", "2", "--json", "--no-progress"]) == 0
    results = json_out()  # strict: stdout must parse as one JSON document
    assert results["run_id"] and "grda" in results["results"]
    client = mlflow.tracking.MlflowClient()
    (child,) = client.search_runs(
        [client.get_run(results["run_id"]).info.experiment_id], f"tags.mlflow.parentRunId = '{results['run_id']}'"
    )
    assert "model/grda.pt" in {a.path for a in client.list_artifacts(child.info.run_id, "model")}  # each seed's model


def test_user_graph_gets_its_short_name_in_results_and_run_name(workdir, json_out):
    # the results JSON, table header and MLflow run name used to be the whole `user:<abs path>:<abs path>` string
    edges, nodes = workdir / "toy_edges.csv", workdir / "toy_nodes.csv"
    n = 60
    edges.write_text("src,dst\n" + "".join(f"n{i},n{(i + 1) % n}\nn{i},n{(i + 7) % n}\n" for i in range(n)))
    nodes.write_text(
        "id,label,f0,f1\n" + "".join(f"n{i},{i % 2},{i % 2 + 0.1 * (i % 5)},{(i % 3) * 0.5}\n" for i in range(n))
    )
    spec = f"user:{edges}:{nodes}"
    rc = main(["train", "--dataset", spec, "--model", "mlp", "--runs", "1", "--epochs", "3", "--json", "--no-progress"])
    assert rc == 0
    results = json_out()
    assert results["dataset"] == "toy"
    run = mlflow.get_run(results["run_id"])
    assert run.info.run_name == "train:toy" and run.data.params["dataset"] == spec  # the full spec stays a param


def test_a_folder_in_ogb_layout_trains_under_its_folder_name(workdir, json_out):
    from graphlearn.data import load_dataset, write_ogb_layout

    write_ogb_layout(load_dataset("synthetic:200"), workdir / "graphs", "ogbn-shop")
    folder = str(workdir / "graphs" / "ogbn_shop")
    rc = main(
        ["train", "--dataset", folder, "--model", "mlp", "--runs", "1", "--epochs", "3", "--json", "--no-progress"]
    )
    assert rc == 0
    results = json_out()
    assert results["dataset"] == "ogbn_shop" and mlflow.get_run(results["run_id"]).info.run_name == "train:ogbn_shop"


def test_runs_read_as_mlflow_users_expect(workdir, json_out):
    # the Dataset column, the experiment's description, filterable tags and table-friendly aggregate metrics
    argv = ["train", "--dataset", "synthetic:300", "--model", "mlp", "--runs", "2", "--epochs", "3", "--json"]
    assert main([*argv, "--no-progress"]) == 0
    run = mlflow.get_run(json_out()["run_id"])
    (inp,) = run.inputs.dataset_inputs
    assert inp.dataset.name == "synthetic:300" and '"graphlearn.dataset": "synthetic:300"' in inp.dataset.source
    assert run.data.tags["dataset"] == "synthetic:300" and run.data.tags["protocol"] == "coldstart"
    assert "mlflow.note.content" in mlflow.get_experiment(run.info.experiment_id).tags
    headline = {k: v for k, v in run.data.metrics.items() if k.startswith("mlp.") and k.endswith((".mean", ".std"))}
    assert headline and all(v == round(v, 2) for v in headline.values())
