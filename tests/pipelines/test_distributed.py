"""`graphlearn train` under torchrun with two processes on 127.0.0.1 (graphlearn.distributed).

The jobs run with dropout 0 (``--dropout 0``; mlp and sgc have no input dropout by default): with dropout, ranks
other than 0 draw other masks than one process does, and the numbers differ as two seeds do. Without it the two
runs differ by float rounding only (about 1e-7 on the weights, tests/test_distributed.py), and the table is asked to
be *equal*: accuracies are counts over fixed masks, so only a near-tie of two logits could move one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from graphlearn.distributed import Context
from pipelines.cli import main

JOB = ["train", "--dataset", "synthetic:600", "--model", "mlp,sgc", "--runs", "2", "--epochs", "20", "--dropout", "0"]
TIMEOUT = 180  # seconds; a job that hangs (a rank waiting for a dead one) fails the test instead of the suite


def torchrun(workdir: Path, argv: list[str], logs: Path | None = None) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node 2 ... graphlearn <argv>`` in ``workdir`` (c10d rendezvous on a free port);
    with ``logs``, each rank's stdout and stderr go to files under it (torchrun's ``--redirects 3``)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--rdzv-backend", "c10d",
                "--rdzv-endpoint", f"127.0.0.1:{port}"]  # fmt: skip
    if logs is not None:
        launcher += ["--redirects", "3", "--log-dir", str(logs)]
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RANK", "WORLD_SIZE")}
    env["OMP_NUM_THREADS"] = "1"
    graphlearn = Path(sys.executable).parent / "graphlearn"
    return subprocess.run(
        [*launcher, "--no-python", str(graphlearn), *argv],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def rank_log(logs: Path, rank: int, stream: str) -> str:
    (path,) = logs.glob(f"*/attempt_0/{rank}/{stream}.log")
    return path.read_text()


def runs_of(workdir: Path):
    """``(parent runs, nested runs)`` of the store in ``workdir``."""
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}")
    client = mlflow.tracking.MlflowClient()
    experiment = client.get_experiment_by_name("graphlearn")
    runs = client.search_runs([experiment.experiment_id])
    nested = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags], nested


def test_train_under_torchrun_is_the_one_process_job_tracked_once(workdir, capsys, json_out, tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    job = torchrun(workdir, [*JOB, "--json", "--out", "out"], logs=logs)
    assert job.returncode == 0, job.stderr[-3000:]
    # rank 0 alone prints (the JSON, progress bars) and writes; rank 1 says nothing
    assert rank_log(logs, 1, "stdout") == "" and rank_log(logs, 1, "stderr") == ""
    results = json.loads(rank_log(logs, 0, "stdout"))
    assert "seed=0" in rank_log(logs, 0, "stderr")  # rank 0's progress bars
    assert json.loads((workdir / "out" / "results.json").read_text()) == results

    parents, nested = runs_of(workdir)
    assert [p.info.run_id for p in parents] == [results["run_id"]]
    assert parents[0].info.status == "FINISHED" and parents[0].data.params["world_size"] == "2"
    assert sorted(r.info.run_name for r in nested) == ["mlp/seed=0", "mlp/seed=1", "sgc/seed=0", "sgc/seed=1"]
    assert {r.data.tags["mlflow.parentRunId"] for r in nested} == {results["run_id"]}
    assert {r.info.status for r in nested} == {"FINISHED"}
    mlflow.set_tracking_uri(None)

    alone = tmp_path_factory.mktemp("alone")  # the same job in one process, in its own store
    os.chdir(alone)
    assert main([*JOB, "--json", "--no-progress"]) == 0
    single = json_out()
    assert single["results"] == results["results"]
    mlflow.set_tracking_uri(None)

    # --resume under torchrun: rank 0 reads back the finished seeds and tells rank 1, which would otherwise train
    # them alone and wait for ever; one seed's record removed from the store is trained again, by both ranks
    os.chdir(workdir)
    (record,) = workdir.glob("mlruns/artifacts/*/*/artifacts/seeds/mlp/seed1.json")
    record.unlink()
    resumed = torchrun(workdir, [*JOB, "--json", "--no-progress", "--resume", results["run_id"]])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "3 of 4 (model, seed) runs done" in resumed.stderr
    again = json.loads(resumed.stdout)
    assert again["run_id"] == results["run_id"] and again["results"] == results["results"]
    parents, nested = runs_of(workdir)
    assert len(parents) == 1 and sorted(r.info.run_name for r in nested).count("mlp/seed=1") == 2


def test_graph_models_are_refused_under_torchrun_before_anything_is_written(workdir):
    job = torchrun(workdir, ["train", "--dataset", "synthetic:200", "--model", "mlp,gcn", "--no-progress"])
    assert job.returncode != 0
    for rank in (0, 1):
        assert (
            "graphlearn train: error: --model gcn: graph models do not train data-parallel (a node's output needs "
            f"its neighbours' rows); under torchrun choose from mlp, sign, sgc, or run them in one process (rank "
            f"{rank} of 2)"
        ) in job.stderr
    assert not (workdir / "mlruns").exists()


class _Args:
    dataset = "tiny"


def test_more_processes_than_training_nodes_is_a_clear_error(tiny_graph):
    from pipelines.train import check_data_parallel

    config = {"models": {"mlp": {}, "sign": {}}}
    check_data_parallel(_Args, config, tiny_graph, Context(rank=0, world_size=5, backend="gloo"))
    with pytest.raises(ValueError, match=r"--dataset tiny: 5 training node\(s\) cannot be shared among 6 processes"):
        check_data_parallel(_Args, config, tiny_graph, Context(rank=0, world_size=6, backend="gloo"))


@pytest.mark.parametrize("command", ["coldbrew", "pretrain", "adapt"])
def test_other_jobs_refuse_to_run_under_torchrun(monkeypatch, capsys, command):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main([command]) == 2
    assert capsys.readouterr().err.strip() == (
        f"graphlearn {command}: error: does not run data-parallel; launch it without torchrun (under torchrun: train)"
    )
