"""Kill and resume: a real `graphlearn coldbrew` job killed mid-way (SIGTERM, SIGKILL) loses at most the seed it was
in; `--resume <run id>` finishes it with the table of an uninterrupted job."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from pipelines.cli import main

JOB = [
    "coldbrew", "--dataset", "synthetic:300", "--runs", "4", "--protocols", "coldstart", "--no-sage", "--no-progress",
    "--set", "epochs=40", "--set", "patience=none", "--set", "k=5", "--set", "student_hidden=16",
    "--set", "teacher_hidden=8",
]  # fmt: skip


def _results(capsys, argv):
    assert main(argv) == 0
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") :])


def _kill_after_first_seed(workdir: Path, sig: int) -> str:
    """Start the job in a subprocess, send ``sig`` once its first seed is saved; return the parent run id."""
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.coldbrew", *JOB[1:]], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.time() + 240
    while not list(workdir.glob("mlruns/artifacts/*/*/artifacts/seeds/seed0.json")):
        if proc.poll() is not None or time.time() > deadline:
            raise AssertionError(f"the job ended before its first seed was saved: {proc.stdout.read()[-2000:]!r}")
        time.sleep(0.05)
    proc.send_signal(sig)
    out = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == (130 if sig == signal.SIGTERM else -signal.SIGKILL), out[-2000:]
    if sig == signal.SIGTERM:
        assert "interrupted" in out
    return next(workdir.glob("mlruns/artifacts/*/*/artifacts/seeds/seed0.json")).parents[2].name


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_job_resumes_to_the_uninterrupted_table(workdir, capsys, sig, tmp_path_factory):
    whole = tmp_path_factory.mktemp("whole")
    import os

    os.chdir(whole)
    expected = _results(capsys, [*JOB, "--json"])
    mlflow.set_tracking_uri(None)
    os.chdir(workdir)

    run_id = _kill_after_first_seed(workdir, sig)
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}")
    client = mlflow.tracking.MlflowClient()
    parent = client.get_run(run_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'")
    statuses = sorted(c.info.status for c in children)
    if sig == signal.SIGTERM:  # marked at once
        # the seed in progress (if the signal came after its run opened) is KILLED too
        assert parent.info.status == "KILLED" and set(statuses) <= {"FINISHED", "KILLED"} and "FINISHED" in statuses
    else:  # nothing could mark them: left RUNNING until the resume finds them
        assert parent.info.status == "RUNNING" and set(statuses) <= {"FINISHED", "RUNNING"}

    resumed = _results(capsys, [*JOB, "--json", "--resume", run_id])
    assert resumed["run_id"] == run_id
    assert resumed["results"] == expected["results"]  # bit-identical numbers, seed by seed
    assert resumed["extra"]["fcr"] == expected["extra"]["fcr"]
    parent = client.get_run(run_id)
    assert parent.info.status == "FINISHED"
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'")
    assert "RUNNING" not in {c.info.status for c in children}
    finished = [c for c in children if c.info.status == "FINISHED"]
    assert sorted(c.data.params["seed"] for c in finished) == ["0", "1", "2", "3"]


def test_resume_refuses_other_settings(workdir, capsys):
    first = _results(capsys, [*JOB[:4], "1", *JOB[5:], "--json"])
    assert main([*JOB[:4], "1", *JOB[5:], "--set", "k=7", "--resume", first["run_id"]]) == 2
    err = capsys.readouterr().err
    assert "was started with other settings (coldbrew:" in err and "rerun them as logged" in err
    assert main([*JOB, "--resume", "0123abc"]) == 2
    assert "unknown run id '0123abc'" in capsys.readouterr().err


@pytest.mark.parametrize("value, message", [("-5", "retrieval_dim must be >= 0"), ("1", "retrieval_dim must be 0")])
def test_bad_retrieval_dim_fails_before_any_run(workdir, capsys, value, message):
    assert main([*JOB, "--retrieval-dim", value]) == 2
    assert message in capsys.readouterr().err
    assert not (workdir / "mlruns" / "mlflow.db").exists()  # nothing opened, nothing half-written


TRAIN = ["train", "--dataset", "synthetic:300", "--model", "mlp,gcn", "--runs", "3", "--epochs", "150", "--no-progress"]


def _kill_and_resume(
    workdir, capsys, tmp_path_factory, job: list[str], first: str, pairs: int, explicit: bool = True
) -> str:
    """Run ``job`` whole in another folder; run it again in a subprocess, SIGKILL it once ``seeds/<first>`` is
    kept, check it died mid-job, resume it (``--resume <id>``, or with ``explicit=False`` by rerunning the same
    command, after a ``--fresh`` run that must not touch it): the same table. Returns the parent run id."""
    import os

    whole = tmp_path_factory.mktemp(f"whole-{job[0]}")
    os.chdir(whole)
    expected = _results(capsys, [*job, "--json"])
    mlflow.set_tracking_uri(None)
    os.chdir(workdir)
    proc = subprocess.Popen([sys.executable, "-m", f"pipelines.{job[0]}", *job[1:]], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.time() + 240
    pattern = f"mlruns/artifacts/*/*/artifacts/seeds/{first}"
    while not list(workdir.glob(pattern)):
        if proc.poll() is not None or time.time() > deadline:
            raise AssertionError(f"the job ended before its first seed was saved: {proc.stdout.read()[-2000:]!r}")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    run_id = next(workdir.glob(pattern)).parents[3].name
    kept = list(workdir.glob("mlruns/artifacts/*/*/artifacts/seeds/*/seed*.json"))
    assert 1 <= len(kept) < pairs  # killed mid-job: some (model, seed) pairs kept, some left to run
    if explicit:
        resumed = _results(capsys, [*job, "--json", "--resume", run_id])
    else:
        fresh = _results(capsys, [*job, "--json", "--fresh"])  # a new run, leaving the killed one as it is
        assert fresh["run_id"] != run_id and fresh["results"] == expected["results"]
        assert main([*job, "--json"]) == 0  # the same command again: continues the killed run
        captured = capsys.readouterr()
        assert f"continuing interrupted run {run_id}" in captured.err
        resumed = json.loads(captured.out)
    assert resumed["run_id"] == run_id and resumed["results"] == expected["results"]
    client = mlflow.tracking.MlflowClient()
    assert client.get_run(run_id).info.status == "FINISHED"
    children = client.search_runs([client.get_run(run_id).info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'")
    assert "RUNNING" not in {c.info.status for c in children}  # the runs the kill left RUNNING were marked
    return run_id


def test_killed_train_job_resumes_to_the_uninterrupted_table(workdir, capsys, tmp_path_factory):
    """`graphlearn train` keeps every finished (model, seed) in its parent run; SIGKILL after the first one and
    `--resume` gives the table of an uninterrupted job."""
    run_id = _kill_and_resume(workdir, capsys, tmp_path_factory, TRAIN, "mlp/seed0.json", pairs=6)
    assert main([*TRAIN[:6], "2", *TRAIN[7:], "--resume", run_id]) == 2  # other settings: refused
    assert "was started with other settings" in capsys.readouterr().err


def test_killed_adapt_job_resumes_to_the_uninterrupted_table(workdir, capsys, tmp_path_factory, shared_data):
    job = ["adapt", "--dataset", "dg15", "--data-root", str(shared_data), "--models", "grda,source-only",
           "--seeds", "2", "--epochs", "30", "--no-progress"]  # fmt: skip
    _kill_and_resume(workdir, capsys, tmp_path_factory, job, "grda/seed0.json", pairs=4, explicit=False)
