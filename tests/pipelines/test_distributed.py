"""`graphlearn train`, `pretrain` and `coldbrew` under torchrun: two processes on 127.0.0.1 (graphlearn.distributed).

The jobs run with dropout 0 (``--dropout 0 --input-dropout 0``): with dropout, ranks
other than 0 draw other masks than one process does, and the numbers differ as two seeds do. Without it the two
runs differ by float rounding only (about 1e-7 on the weights, tests/test_distributed.py), and the table is asked to
be *equal*: accuracies are counts over fixed masks, so only a near-tie of two logits could move one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from graphlearn.distributed import Context
from pipelines.cli import main

JOB = ["train", "--dataset", "synthetic:600", "--model", "mlp,sign", "--runs", "2", "--epochs", "150"]
JOB += ["--dropout", "0", "--input-dropout", "0"]
TIMEOUT = 180  # seconds; a job that hangs (a rank waiting for a dead one) fails the test instead of the suite


def launcher() -> list[str]:
    """``torchrun --nproc-per-node 2`` with a c10d rendezvous on a free port of 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--rdzv-backend", "c10d",
            "--rdzv-endpoint", f"127.0.0.1:{port}"]  # fmt: skip


def job_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RANK", "WORLD_SIZE")}
    return env | {"OMP_NUM_THREADS": "1"}


GRAPHLEARN = str(Path(sys.executable).parent / "graphlearn")


def torchrun(workdir: Path, argv: list[str], logs: Path | None = None) -> subprocess.CompletedProcess:
    """``graphlearn <argv>`` on two ranks in ``workdir``; with ``logs``, each rank's stdout and stderr go to files
    under it (torchrun's ``--redirects 3``)."""
    redirect = ["--redirects", "3", "--log-dir", str(logs)] if logs is not None else []
    return subprocess.run(
        [*launcher(), *redirect, "--no-python", GRAPHLEARN, *argv],
        cwd=workdir,
        env=job_env(),
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
    try:
        client = mlflow.tracking.MlflowClient()
        runs = client.search_runs([client.get_experiment_by_name("graphlearn").experiment_id])
    finally:
        mlflow.set_tracking_uri(None)
    nested = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags], nested


def in_folder(folder: Path, argv: list[str]) -> None:
    """``graphlearn <argv>`` in one process, in ``folder`` (its own store and ``--out``)."""
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        assert main(argv) == 0
    finally:
        os.chdir(cwd)
        mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> dict:
    """The results JSON of :data:`JOB` in one process (in its own folder and store)."""
    folder = tmp_path_factory.mktemp("one-process")
    in_folder(folder, [*JOB, "--no-progress", "--out", "out"])
    return json.loads((folder / "out" / "results.json").read_text())


def test_train_under_torchrun_is_the_one_process_job_tracked_once(workdir, one_process, tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    job = torchrun(workdir, [*JOB, "--json", "--out", "out"], logs=logs)
    assert job.returncode == 0, job.stderr[-3000:]
    # rank 0 alone prints (the JSON, progress bars) and writes; rank 1 says nothing
    assert rank_log(logs, 1, "stdout") == "" and rank_log(logs, 1, "stderr") == ""
    results = json.loads(rank_log(logs, 0, "stdout"))
    assert "seed=0" in rank_log(logs, 0, "stderr")  # rank 0's progress bars
    assert json.loads((workdir / "out" / "results.json").read_text()) == results
    assert results["results"] == one_process["results"]

    parents, nested = runs_of(workdir)
    assert [p.info.run_id for p in parents] == [results["run_id"]]
    assert parents[0].info.status == "FINISHED" and parents[0].data.params["world_size"] == "2"
    assert sorted(r.info.run_name for r in nested) == ["mlp/seed=0", "mlp/seed=1", "sign/seed=0", "sign/seed=1"]
    assert {r.data.tags["mlflow.parentRunId"] for r in nested} == {results["run_id"]}
    assert {r.info.status for r in nested} == {"FINISHED"}


def worker_pids(launcher_pid: int) -> dict[int, int]:
    """``{rank: pid}`` of the workers torchrun (``launcher_pid``) started, read from ``/proc`` (Linux)."""
    pids = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((proc / "stat").read_text().rpartition(")")[2].split()[1])
            environ = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == launcher_pid:
            rank = next((int(e[5:]) for e in environ if e.startswith(b"RANK=")), None)
            if rank is not None:
                pids[rank] = int(proc.name)
    return pids


def test_a_rank_killed_mid_job_stops_the_job_and_the_rerun_continues_it(workdir, one_process):
    with open(workdir / "killed.log", "w") as log:
        proc = subprocess.Popen(
            [*launcher(), "--no-python", GRAPHLEARN, *JOB, "--no-progress"], cwd=workdir, env=job_env(),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + TIMEOUT
            while not list(workdir.glob("mlruns/artifacts/*/*/artifacts/seeds/mlp/seed0.json")):
                assert proc.poll() is None and time.monotonic() < deadline, "the job ended before its first seed"
                time.sleep(0.05)
            pids = worker_pids(proc.pid)
            assert sorted(pids) == [0, 1]
            os.kill(pids[1], signal.SIGKILL)
            assert proc.wait(timeout=60) != 0
        finally:
            proc.kill()
    out = (workdir / "killed.log").read_text()
    assert "graphlearn train: interrupted" in out, out[-3000:]  # rank 0, stopped by torchrun or by the lost peer
    for pid in pids.values():  # no orphan
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    (parent,), _ = runs_of(workdir)
    assert parent.info.status == "KILLED"  # rank 0 marked it, as after Ctrl-C: rerunning the command continues it

    rerun = torchrun(workdir, [*JOB, "--json", "--no-progress"])
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"continuing interrupted run {parent.info.run_id}" in rerun.stderr
    results = json.loads(rerun.stdout)
    assert results["run_id"] == parent.info.run_id and results["results"] == one_process["results"]
    (parent,), nested = runs_of(workdir)
    assert parent.info.status == "FINISHED"
    finished = sorted(r.info.run_name for r in nested if r.info.status == "FINISHED")
    assert finished == ["mlp/seed=0", "mlp/seed=1", "sign/seed=0", "sign/seed=1"]


class OneOfTwo(Context):
    """Rank 0 of two whose collectives need no peer: what the job does on rank 0 before it trains."""

    def broadcast(self, obj):
        return obj

    def on_main(self, fn):
        return fn()


def as_rank0_of_two(monkeypatch) -> None:
    """Jobs started from here see torchrun's environment and rank 0 of two (:class:`OneOfTwo`) as their session."""
    from graphlearn import distributed

    @contextlib.contextmanager
    def session():
        yield OneOfTwo(rank=0, world_size=2, backend="gloo")

    monkeypatch.setattr(distributed, "session", session)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")


def test_graph_models_are_refused_under_torchrun_before_anything_is_written(workdir, monkeypatch, capsys):
    as_rank0_of_two(monkeypatch)
    assert main(["train", "--dataset", "synthetic:200", "--model", "mlp,gcn", "--out", "out", "--no-progress"]) == 2
    assert capsys.readouterr().err.strip() == (
        "graphlearn train: error: --model gcn: graph models do not train data-parallel (a node's output needs its "
        "neighbours' rows); under torchrun choose from mlp, sign, sgc, or run them in one process (rank 0 of 2)"
    )
    assert list(workdir.iterdir()) == []  # no store, no --out


class _Args:
    dataset = "tiny"


def test_more_processes_than_training_nodes_is_a_clear_error(tiny_graph):
    from pipelines.train import check_data_parallel

    config = {"models": {"mlp": {}, "sign": {}}}
    check_data_parallel(_Args, config, tiny_graph, Context(rank=0, world_size=5, backend="gloo"))
    with pytest.raises(ValueError, match=r"--dataset tiny: 5 training node\(s\) cannot be shared among 6 processes"):
        check_data_parallel(_Args, config, tiny_graph, Context(rank=0, world_size=6, backend="gloo"))


@pytest.mark.parametrize("command", ["adapt", "datasets"])
def test_other_jobs_refuse_to_run_under_torchrun(monkeypatch, capsys, command):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main([command]) == 2
    assert capsys.readouterr().err.strip() == (
        f"graphlearn {command}: error: does not run data-parallel; launch it without torchrun (under torchrun: "
        "train, pretrain, coldbrew)"
    )


# dropout 0 in the models trained data-parallel (the teachers train whole on every rank, with their own dropout)
COLDBREW = ["coldbrew", "--dataset", "synthetic:300", "--runs", "2", "--protocols", "coldstart", "--no-sage",
            "--retrieval-dim", "0", "--set", "epochs=30", "--set", "student_dropout=0", "--set", "k=5",
            "--no-progress", "--json", "--out", "out"]  # fmt: skip


def test_coldbrew_under_torchrun_is_the_one_process_job_tracked_once(tmp_path_factory):
    """Two seeds of the Cold Brew protocol: the table of one process, every run once, from rank 0."""
    one, two, logs = (tmp_path_factory.mktemp(name) for name in ("coldbrew-one", "coldbrew-two", "coldbrew-logs"))
    in_folder(one, COLDBREW)
    single = json.loads((one / "out" / "results.json").read_text())
    job = torchrun(two, COLDBREW, logs=logs)
    assert job.returncode == 0, job.stderr[-3000:]
    assert rank_log(logs, 1, "stdout") == "" and rank_log(logs, 1, "stderr") == ""  # rank 0 speaks for the job
    results = json.loads(rank_log(logs, 0, "stdout"))
    assert json.loads((two / "out" / "results.json").read_text()) == results
    assert results["results"] == single["results"]  # the student, GLNN and MLP trained on two ranks: same table
    assert {"ColdBrew", "GLNN", "MLP", "GCN+SE"} <= set(results["results"])

    parents, nested = runs_of(two)
    assert [p.info.run_id for p in parents] == [results["run_id"]]
    assert parents[0].info.status == "FINISHED" and parents[0].data.params["world_size"] == "2"
    assert sorted(r.info.run_name for r in nested) == ["ColdBrew student", "seed=0", "seed=1"]
    assert {r.info.status for r in nested} == {"FINISHED"}
    seed0 = next(r for r in nested if r.info.run_name == "seed=0")
    assert seed0.data.metrics["coldstart.ColdBrew.isolated"] == pytest.approx(
        single["results"]["ColdBrew"]["isolated"]["values"][0]
    )
    artifacts = {a.path for a in mlflow.tracking.MlflowClient(f"sqlite:///{two / 'mlruns' / 'mlflow.db'}")
                 .list_artifacts(results["run_id"], "seeds")}  # fmt: skip
    assert artifacts == {f"seeds/seed{s}.{ext}" for s in (0, 1) for ext in ("json", "npz")}


def test_coldbrew_student_options_of_one_process_are_refused_under_torchrun(workdir, monkeypatch, capsys):
    as_rank0_of_two(monkeypatch)
    argv = ["coldbrew", "--dataset", "synthetic:200", "--set", "mlp1_folds=3", "--out", "out", "--no-progress"]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == (
        "graphlearn coldbrew: error: the student does not train data-parallel with mlp1_folds (cross-fitting, the "
        "TCM loss); under torchrun leave it off (--set mlp1_folds=0 --set mlp1_tcm_weight=0, and no such "
        "--tune-space value), or run the job in one process (rank 0 of 2)"
    )
    assert list(workdir.iterdir()) == []  # no store, no --out
    argv = ["coldbrew", "--dataset", "synthetic:200", "--tune", "3", "--tune-space", "mlp1_folds=0,3", "--out", "out"]
    assert main(argv) == 2
    assert "the student does not train data-parallel with mlp1_folds" in capsys.readouterr().err
    assert list(workdir.iterdir()) == []


def test_coldbrew_with_more_processes_than_training_nodes_is_a_clear_error(tiny_graph):
    from graphlearn.methods.coldbrew import ColdBrewConfig
    from pipelines.coldbrew import check_data_parallel

    n = int(tiny_graph.train_mask.sum())
    check_data_parallel(_Args, ColdBrewConfig(), None, tiny_graph, Context(rank=0, world_size=n, backend="gloo"))
    with pytest.raises(ValueError, match=rf"--dataset tiny: {n} training node\(s\) cannot be shared among {n + 1} "):
        check_data_parallel(
            _Args, ColdBrewConfig(), None, tiny_graph, Context(rank=0, world_size=n + 1, backend="gloo")
        )


PRETRAIN = ["pretrain", "--dataset", "synthetic:600", "--set", "epochs=2", "--set", "dropout=0", "--set",
            "branching=4", "--set", "max_leaf_size=16", "--no-progress", "--json", "--out", "out"]  # fmt: skip


def test_pretrain_under_torchrun_is_the_one_process_job_tracked_once(tmp_path_factory):
    import numpy as np

    one, two, logs = (tmp_path_factory.mktemp(name) for name in ("pretrain-one", "pretrain-two", "pretrain-logs"))
    in_folder(one, PRETRAIN)
    job = torchrun(two, PRETRAIN, logs=logs)
    assert job.returncode == 0, job.stderr[-3000:]
    assert rank_log(logs, 1, "stdout") == "" and rank_log(logs, 1, "stderr") == ""  # rank 0 speaks for the job
    summary = json.loads(rank_log(logs, 0, "stdout"))
    with np.load(one / "out" / "features.npz") as a, np.load(two / "out" / "features.npz") as b:
        np.testing.assert_allclose(b["features"], a["features"], rtol=0.0, atol=1e-5)  # float rounding only
    single = json.loads((one / "out" / "features.json").read_text())
    assert summary["tree"] == single["tree"]
    parents, nested = runs_of(two)
    assert [p.info.run_id for p in parents] == [summary["run_id"]] and not nested
    assert parents[0].info.status == "FINISHED" and parents[0].data.params["world_size"] == "2"
