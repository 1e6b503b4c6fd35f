"""The jobs' shared flags end to end: pretrain -> train --features, --feature-norm, bad values of the common flags."""

import argparse

import mlflow
import numpy as np
import pytest
import torch

from pipelines import _common
from pipelines.cli import build_parser, main

TINY_GIANT = ["--set", "epochs=1", "--set", "hidden_channels=16", "--set", "out_channels=8", "--set", "branching=4"]


def test_pretrain_then_train_on_its_features_by_run_and_by_path(workdir, capsys, json_out):
    rc = main(["pretrain", "--dataset", "synthetic:300", *TINY_GIANT, "--json", "--no-progress", "--out", "feats"])
    assert rc == 0
    summary = json_out()
    assert summary["dim"] == 8 and summary["num_nodes"] == 300
    features = np.load(workdir / "feats" / "features.npz")["features"]
    assert features.shape == (300, 8) and np.isfinite(features).all()
    run = mlflow.tracking.MlflowClient().get_run(summary["run_id"])
    assert run.data.params["feature_norm"] == "none"  # synthetic features are signed: never row-normalised
    assert "level0.loss" in run.data.metrics  # per-level curves, stage names from the training core

    train = ["train", "--dataset", "synthetic:300", "--model", "mlp", "--runs", "1", "--epochs", "5", "--json"]
    for spec in (summary["features"], str(workdir / "feats" / "features.npz")):
        assert main([*train, "--no-progress", "--features", spec]) == 0
        results = json_out()
        child = mlflow.tracking.MlflowClient().get_run(results["run_id"])
        assert child.data.params["features"] == spec
        # the held-out cold-start split of pretraining is reused downstream
        assert results["extra"]["split"]["seed"] == 0


def test_feature_norm_rows_sum_to_one_on_cora_and_auto_follows_the_dataset(shared_data):
    parser = argparse.ArgumentParser()
    _common.add_common_arguments(parser)
    raw = _common.load_data(
        parser.parse_args(["--dataset", "cora", "--data-root", str(shared_data), "--feature-norm", "none"])
    )
    auto = _common.load_data(parser.parse_args(["--dataset", "cora", "--data-root", str(shared_data)]))
    sums = auto.x.sum(1)
    nonzero = raw.x.sum(1) > 0
    torch.testing.assert_close(sums[nonzero], torch.ones(int(nonzero.sum())))
    assert not torch.equal(raw.x, auto.x)
    # pretraining reads the same normalised features as train (it used to skip the flag)
    pre = build_parser().parse_args(["pretrain", "--dataset", "cora", "--data-root", str(shared_data)])
    assert _common.feature_norm(pre) == "row"
    torch.testing.assert_close(_common.load_data(pre).x, auto.x)


def test_feature_norm_row_on_signed_features_warns_and_keeps_them(caplog):
    parser = argparse.ArgumentParser()
    _common.add_common_arguments(parser)
    plain = _common.load_data(parser.parse_args(["--dataset", "synthetic:200", "--feature-norm", "none"]))
    with caplog.at_level("WARNING"):
        row = _common.load_data(parser.parse_args(["--dataset", "synthetic:200", "--feature-norm", "row"]))
    assert torch.equal(plain.x, row.x) and "negative feature values" in caplog.text


@pytest.mark.parametrize("command", ["train", "coldbrew", "pretrain", "adapt"])
def test_every_job_takes_the_common_flags(command):
    args = build_parser().parse_args(
        [command, "--data-root", "r", "--tracking-uri", "sqlite:///x.db", "--threads", "1", "--feature-norm", "none"]
        + ["--json", "--no-progress", "--out", "o", "--seed", "3"]
    )
    assert (args.data_root, args.tracking_uri, args.threads, args.feature_norm) == ("r", "sqlite:///x.db", 1, "none")
    assert args.json and args.no_progress and args.out == "o" and args.seed == 3


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--runs", "0"],
        ["train", "--runs", "-1"],
        ["coldbrew", "--runs", "zero"],
        ["adapt", "--seeds", "0"],
        ["train", "--threads", "0"],
    ],
)
def test_non_positive_counts_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert ">= 1" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["coldbrew", "--dataset", "synthetic:200", "--set", "k=0"], "k must be >= 1 (got 0"),
        (
            ["coldbrew", "--dataset", "synthetic:200", "--set", "k=many"],
            "ColdBrewConfig.k expects an integer, got 'many'",
        ),
        (["coldbrew", "--dataset", "synthetic:200", "--set", "kk=3"], "unknown ColdBrewConfig key(s) ['kk']"),
        (["coldbrew", "--dataset", "synthetic:200", "--set", "k"], "--set expects KEY=VALUE, got 'k'"),
        (
            ["coldbrew", "--dataset", "synthetic:200", "--tune", "0"],
            "--tune must be a budget of at least 1 trial (got 0)",
        ),
        (["coldbrew", "--dataset", "synthetic:200", "--tune", "-2"], "at least 1 trial (got -2)"),
        (
            ["coldbrew", "--dataset", "synthetic:200", "--tune", "--tune-space", "kk=3"],
            "search space has key 'kk', which the student does not have",
        ),
        (["coldbrew", "--dataset", "synthetic:200", "--tune-space", "k=0,5"], "search space value k=0 is invalid"),
        (["coldbrew", "--dataset", "synthetic:200", "--tune-space", "k=3,5"], "--tune-space is given without --tune"),
        (
            ["coldbrew", "--dataset", "synthetic:200", "--tune", "--protocols", "inductive"],
            "--tune needs the coldstart protocol",
        ),
        (["pretrain", "--dataset", "synthetic:200", "--set", "loss=mse"], "unknown loss 'mse'"),
        (["adapt", "--dataset", "dg15", "--set", "init_disc=maybe"], "AdaptConfig.init_disc expects true or false"),
        (["pretrain", "--dataset", "synthetic:200", "--set", "epochs=0"], "epochs must be >= 1"),
        (
            ["coldbrew", "--dataset", "synthetic:200", "--set", 'epochs="many"'],
            "ColdBrewConfig.epochs expects an integer",
        ),
        (["train", "--dataset", "synthetic:200", "--tracking-uri", "foo://bar"], "unknown tracking URI scheme 'foo'"),
        (["train", "--dataset", "synthetic:200", "--tracking-uri", "file:/tmp/x"], "plain file store"),
    ],
)
def test_bad_config_values_are_one_line_errors(workdir, capsys, argv, message):
    assert main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "it is empty (0 bytes)"),
        (b"PK\x03\x04 not really a zip", "not a readable features file"),
        ("nan", "features must be finite"),
    ],
)
def test_bad_features_files_are_one_line_errors(workdir, capsys, content, message):
    path = workdir / "f.npz"
    if content == "nan":
        x = np.zeros((200, 4), np.float32)
        x[3, 1] = np.nan
        np.savez(path, features=x)
    else:
        path.write_bytes(content)
    argv = ["train", "--dataset", "synthetic:200", "--model", "mlp", "--runs", "1", "--epochs", "2"]
    assert main([*argv, "--features", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "f.npz" in err and "Traceback" not in err


def test_threads_default_is_one_and_env_and_flag_override_it(monkeypatch):
    parser = build_parser()
    monkeypatch.delenv("GRAPHLEARN_THREADS", raising=False)
    assert _common.job_threads(parser.parse_args(["train"])) == 1
    monkeypatch.setenv("GRAPHLEARN_THREADS", "2")
    assert _common.job_threads(parser.parse_args(["train"])) == 2
    assert _common.job_threads(parser.parse_args(["train", "--threads", "3"])) == 3
    monkeypatch.setenv("GRAPHLEARN_THREADS", "lots")
    with pytest.raises(ValueError, match="GRAPHLEARN_THREADS must be an integer >= 1, got 'lots'"):
        _common.job_threads(parser.parse_args(["train"]))
    before = torch.get_num_threads()
    try:
        _common.setup_threads(parser.parse_args(["train", "--threads", "1"]))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_jobs_leave_no_temporary_folders(workdir, monkeypatch, json_out):
    import tempfile

    tmp = workdir / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    assert main(["pretrain", "--dataset", "synthetic:300", *TINY_GIANT, "--json", "--no-progress"]) == 0
    run_id = json_out()["run_id"]
    train = ["train", "--dataset", "synthetic:300", "--model", "mlp", "--runs", "1", "--epochs", "3", "--json"]
    assert main([*train, "--no-progress", "--features", f"pretrained:{run_id}"]) == 0
    json_out()
    coldbrew = ["coldbrew", "--dataset", "synthetic:200", "--runs", "1", "--json", "--no-progress"]
    assert main([*coldbrew, "--set", "epochs=3", "--no-sage"]) == 0
    # graphlearn-*, -pretrain-*, -model-*, -splits-*, -features-* removed (PyG's generated modules may stay)
    assert [p.name for p in tmp.iterdir() if p.name.startswith("graphlearn")] == []


def test_a_tracking_server_that_is_down_fails_fast_with_one_line(workdir, monkeypatch, capsys):
    import time

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9/")
    start = time.perf_counter()
    assert main(["train", "--dataset", "synthetic:200", "--runs", "1", "--epochs", "2", "--no-progress"]) == 2
    assert time.perf_counter() - start < 30  # MLflow's own retries took 256 s
    err = capsys.readouterr().err
    assert "MLflow tracking server http://127.0.0.1:9/ is not reachable" in err and "Traceback" not in err


def test_four_jobs_started_together_on_a_fresh_folder_all_finish(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from graphlearn import tracking; import mlflow\n"
        "tracking.configure()\n"
        "with mlflow.start_run(run_name=sys.argv[1]):\n"
        "    mlflow.log_metric('m', 1.0); mlflow.log_text('x', 'a.txt')\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "MLFLOW_TRACKING_URI"}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, f"job{i}"], cwd=tmp_path, env=env, stderr=subprocess.PIPE)
        for i in range(4)
    ]
    errors = [p.communicate()[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    try:
        runs = mlflow.search_runs(experiment_names=["graphlearn"])
        assert sorted(runs["tags.mlflow.runName"]) == [f"job{i}" for i in range(4)]
        assert (runs["metrics.m"] == 1.0).all()
        client = mlflow.tracking.MlflowClient()
        assert all([a.path for a in client.list_artifacts(r)] == ["a.txt"] for r in runs["run_id"])
    finally:
        mlflow.set_tracking_uri(None)


def test_pretrained_features_are_fetched_from_the_jobs_tracking_uri(workdir, json_out):
    uri = f"sqlite:///{workdir / 'team' / 'store.db'}"
    (workdir / "team").mkdir()
    assert (
        main(["pretrain", "--dataset", "synthetic:300", *TINY_GIANT, "--json", "--no-progress", "--tracking-uri", uri])
        == 0
    )
    run_id = json_out()["run_id"]
    train = ["train", "--dataset", "synthetic:300", "--model", "mlp", "--runs", "1", "--epochs", "3", "--json"]
    assert main([*train, "--no-progress", "--tracking-uri", uri, "--features", f"pretrained:{run_id}"]) == 0
    assert json_out()["results"]["mlp"]["overall"]["values"]
    assert not (workdir / "mlruns").exists()  # it used to look in (and create) ./mlruns


def test_probe_flags_collapsed_or_chance_features_and_passes_informative_ones():
    from graphlearn.data import dc_sbm
    from pipelines.pretrain import probe_features

    graph = dc_sbm(400, num_features=16, seed=0)
    good = probe_features(graph.x, graph)
    assert not good["degenerate"] and good["val_acc"] > good["majority_acc"] + 10
    collapsed = probe_features(torch.ones(400, 8) + 1e-9 * torch.randn(400, 8), graph)
    assert collapsed["degenerate"]
    noise = probe_features(torch.randn(400, 8, generator=torch.Generator().manual_seed(1)), graph)
    assert noise["val_acc"] < good["val_acc"]
    unlabelled = graph.clone()
    unlabelled.y = torch.full_like(graph.y, -1)
    assert probe_features(graph.x, unlabelled) is None


def test_giant_auto_epochs_give_small_graphs_enough_steps():
    from graphlearn.methods.giant import GiantConfig
    from graphlearn.methods.giant.trainer import MIN_STEPS

    cfg = GiantConfig()
    assert cfg.epochs is None
    assert cfg.epochs_at(0, 1, 2405) == max(3, -(-MIN_STEPS * 256 // 2405))  # Cora: 11 epochs, 110 steps
    assert cfg.epochs_at(0, 1, 1_000_000) == 3  # large graphs keep the old 3
    assert GiantConfig(epochs=5).epochs_at(0, 1, 10) == 5


def test_coldbrew_searches_the_student_on_the_cold_start_validation_set(workdir, json_out):
    argv = ["coldbrew", "--dataset", "synthetic:200", "--runs", "2", "--set", "epochs=3", "--no-sage", "--json"]
    assert main([*argv, "--tune", "3", "--tune-space", "k=3,5", "--no-progress", "--retrieval-dim", "0"]) == 0
    results = json_out()
    rows = results["results"]
    assert {"ColdBrew", "ColdBrew-untuned", "GLNN"} <= set(rows) and not any("/c" in m for m in rows)
    for model in ("ColdBrew", "GLNN", "GCN"):
        assert len(rows[model]["val_isolated"]["values"]) == 2  # the cold-start validation accuracy, every seed
    search = results["extra"]["search"]
    # the configured setting (k=50), then the space's k=3 and k=5
    assert [r["setting"] for r in search] == ["configured", {"k": 3}, {"k": 5}] and sum(r["kept"] for r in search) == 1
    kept = next(r for r in search if r["kept"])
    assert kept["val_isolated"] == max(r["val_isolated"] for r in search)
    # the kept candidate's mean cold-start validation accuracy is the ColdBrew row's
    assert rows["ColdBrew"]["val_isolated"]["mean"] == pytest.approx(kept["val_isolated"])
    run = mlflow.get_run(results["run_id"])
    assert run.data.params["tune.trials"] == "3" and run.data.metrics["search.kept"] == kept["candidate"]
    seeds = mlflow.search_runs([run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    seed_run = seeds[seeds["tags.mlflow.runName"] == "seed=0"].iloc[0]["run_id"]
    assert "metrics.coldstart.ColdBrew/c1.val_isolated" in seeds.columns  # every candidate scored in its seed run
    model = mlflow.get_logged_model(results["extra"]["student_model"].removeprefix("models:/"))
    assert model.params["coldbrew.k"] == str(kept["setting"]["k"] if kept["candidate"] else 50)
    assert mlflow.MlflowClient().get_run(seed_run).data.metrics["coldstart.ColdBrew/c2.val_isolated"] >= 0
    # without --tune: the configured student only; --label-split random: a seeded 60/20/20 split per seed
    assert main([*argv, "--label-split", "random", "--no-progress", "--retrieval-dim", "0"]) == 0
    rows = json_out()["results"]
    assert "ColdBrew-untuned" not in rows and "ColdBrew" in rows


def test_tune_without_a_cold_start_validation_node_fails_before_training(workdir, monkeypatch, capsys):
    import pipelines.coldbrew as job

    real = job.apply_protocol

    def no_cold_validation(*args, **kwargs):
        out = real(*args, **kwargs)
        if hasattr(out, "val_isolated_mask"):
            out.val_isolated_mask = torch.zeros_like(out.val_isolated_mask)
        return out

    monkeypatch.setattr(job, "apply_protocol", no_cold_validation)
    assert main(["coldbrew", "--dataset", "synthetic:200", "--tune", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--tune has no cold-start validation set to score on: none of the" in err and "Traceback" not in err
    assert not (workdir / "mlruns").exists() or not mlflow.search_runs(search_all_experiments=True).shape[0]
