"""The team tracking server (``graphlearn.tracking.server``): PostgreSQL + ``mlflow server`` started from a state
folder, two jobs logging to it at once, everything arriving, and a stop that leaves no process behind; bad input
(ports in use, PostgreSQL missing, stopping a server that is not running) fails with one line.

PostgreSQL must be installed or installable (root with apt-get, as in CI): otherwise the start test fails with the
reason, it is not skipped."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import pytest

from graphlearn import tracking
from graphlearn.tracking import server

BIN = Path(sys.executable).parent
SERVER = [sys.executable, "-m", "graphlearn.tracking.server"]
JOBS = {
    "mlp": ["train", "--dataset", "synthetic:300", "--model", "mlp", "--runs", "2", "--epochs", "3"],
    "gcn": ["train", "--dataset", "synthetic:300", "--model", "gcn", "--runs", "2", "--epochs", "3"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def state_root():
    """A state folder the ``postgres`` user can enter (under root PostgreSQL runs as it; pytest's tmp folders are
    0700); whatever runs from it is stopped at the end."""
    base = Path(tempfile.mkdtemp(prefix="graphlearn-tracking-"))
    base.chmod(0o755)
    root = base / "state"
    yield root
    server.stop(root)
    shutil.rmtree(base, ignore_errors=True)


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and server.pid_alive(int(entry)):
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{entry}: {cmdline}")
    return found


def test_two_jobs_log_to_the_server_and_stop_leaves_nothing(state_root, tmp_path):
    port, pg_port = free_port(), free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [*SERVER, "start", "--root", str(state_root), "--port", str(port), "--pg-port", str(pg_port)]
    started = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400)
    assert started.returncode == 0, f"tracking server did not start: {started.stderr.strip()[-2000:]}"
    uri = started.stdout.strip()
    assert uri == f"http://127.0.0.1:{port}"
    state = json.loads((state_root / "server.json").read_text())
    assert state["ready"] and state["pg_port"] == pg_port
    assert (state_root / "pgdata" / "PG_VERSION").is_file()
    assert server.status(state_root) == uri

    assert server.start(state_root, port=port, pg_port=pg_port) == uri  # a second start leaves it running

    # two jobs at once, each in its own folder: nothing goes to an embedded store
    jobs = {}
    for name, argv in JOBS.items():
        (tmp_path / name).mkdir()
        jobs[name] = subprocess.Popen(
            [str(BIN / "graphlearn"), *argv, "--no-progress", "--json"],
            cwd=tmp_path / name,
            env={**env, "MLFLOW_TRACKING_URI": uri},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    results = {}
    for name, proc in jobs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"job {name} failed: {err.strip()[-1500:]}"
        results[name] = json.loads(out)  # stdout is the JSON alone (no "View run ..." lines from MLflow)
        assert not (tmp_path / name / "mlruns").exists()

    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    for name, res in results.items():
        parent = client.get_run(res["run_id"])
        assert parent.info.status == "FINISHED" and parent.data.tags["job"] == "train"
        assert parent.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied: clients need no shared disk
        for group, cell in res["results"][name].items():
            for stat in ("mean", "std"):
                assert parent.data.metrics[f"{name}.{group}.{stat}"] == pytest.approx(cell[stat], abs=0.01)
        children = client.search_runs(
            [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
        )
        assert sorted(c.info.run_name for c in children) == [f"{name}/seed=0", f"{name}/seed=1"]
        for child in children:
            assert child.info.status == "FINISHED"
            assert {"test_overall", "best_val", "best_epoch"} <= set(child.data.metrics)
            assert [m.step for m in client.get_metric_history(child.info.run_id, "val")] == [1, 2, 3]
            assert child.data.params["model"] == name
        listed = {
            a.path
            for folder in ("results", f"seeds/{name}", "split")
            for a in client.list_artifacts(parent.info.run_id, folder)
        }
        assert {"results/results.json", "results/results.md", "split/split.npz"} <= listed
        assert {f"seeds/{name}/seed{s}.{ext}" for s in (0, 1) for ext in ("json", "npz")} <= listed
        got = client.download_artifacts(parent.info.run_id, "results/results.json", str(tmp_path / f"dl-{name}"))
        assert json.loads(Path(got).read_text()) == res
        on_disk = state_root / "artifacts" / parent.info.experiment_id / parent.info.run_id / "artifacts"
        assert (on_disk / "results" / "results.json").is_file()  # in the server's artifact root

    stopped = subprocess.run([*SERVER, "stop", "--root", str(state_root)], capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert "mlflow server" in stopped.stderr and "PostgreSQL" in stopped.stderr
    assert server.group_pids(state["mlflow_pgid"]) == [] and not server.pid_alive(state["pg_pid"])
    assert _processes_mentioning(str(state_root)) == []
    assert server.port_free(port) and server.port_free(pg_port)
    assert not (state_root / "server.json").exists()
    assert server.stop(state_root) == []  # idempotent
    with pytest.raises(ValueError, match=f"MLflow tracking server {uri} is not reachable"):
        tracking.check_server(uri)  # what a job against the stopped server says, within seconds
    assert server.status(state_root) is None


def test_a_start_killed_midway_stops_what_it_started_and_removes_the_new_cluster(state_root):
    port, pg_port = free_port(), free_port()
    cmd = [*SERVER, "start", "--root", str(state_root), "--port", str(port), "--pg-port", str(pg_port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    state = {}
    while "mlflow_pid" not in state and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # until PostgreSQL runs and mlflow server is spawned, before it answers
        state = server.Layout(state_root).read_state()
    assert "mlflow_pid" in state, f"start got no further than {state} ({proc.poll()=})"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and out == "" and err.strip().endswith("interrupted"), err
    assert server.group_pids(state["mlflow_pgid"]) == [] and not server.pid_alive(state["pg_pid"])
    assert _processes_mentioning(str(state_root)) == []
    assert not (state_root / "pgdata").exists() and not (state_root / "server.json").exists()
    assert server.port_free(port) and server.port_free(pg_port)


def test_an_mlflow_server_that_dies_is_one_line_with_its_log_and_nothing_is_left(state_root, monkeypatch):
    port, pg_port = free_port(), free_port()
    fail = [sys.executable, "-c", "import sys; print('boom: no such backend'); sys.exit(3)"]
    monkeypatch.setattr(server, "_mlflow_command", lambda *a: fail)
    with pytest.raises(server.ServerError) as info:
        server.start(state_root, port=port, pg_port=pg_port)
    message = str(info.value)
    assert "\n" not in message and f"mlflow server exited with status 3 before http://127.0.0.1:{port}" in message
    assert message.endswith("boom: no such backend")
    assert not (state_root / "pgdata").exists() and not (state_root / "server.json").exists()
    assert _processes_mentioning(str(state_root)) == [] and server.port_free(pg_port)


@pytest.mark.parametrize("which", ["pg", "mlflow"])
def test_a_port_in_use_is_one_line_and_nothing_starts(state_root, which):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    taken, other = busy.getsockname()[1], free_port()
    pg_port, port = (taken, other) if which == "pg" else (other, taken)
    try:
        if which == "pg":  # the command line: one line on stderr, exit 2
            cmd = [*SERVER, "start", "--root", str(state_root), "--port", str(port), "--pg-port", str(pg_port)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 2 and proc.stdout == ""
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1 and f"PostgreSQL port {taken} on 127.0.0.1 is already in use" in lines[0], lines
            assert "--pg-port" in lines[0]
        else:
            with pytest.raises(server.ServerError, match=f"MLflow server port {taken} on 127.0.0.1 is already in use"):
                server.start(state_root, port=port, pg_port=pg_port)
    finally:
        busy.close()
    assert not state_root.exists()  # nothing written
    assert _processes_mentioning(str(state_root)) == []


def test_bad_ports_are_refused_before_anything_starts(state_root):
    with pytest.raises(server.ServerError, match="--port and --pg-port are both 5000"):
        server.start(state_root, port=5000, pg_port=5000)
    with pytest.raises(server.ServerError, match="PostgreSQL port 70000 is not a TCP port"):
        server.start(state_root, port=free_port(), pg_port=70000)
    assert not state_root.exists()


def test_stopping_a_server_that_is_not_running(state_root):
    assert server.stop(state_root) == []  # no state folder at all
    state_root.mkdir()
    assert server.stop(state_root) == []
    assert server.status(state_root) is None
    proc = subprocess.run([*SERVER, "stop", "--root", str(state_root)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and f"nothing was running from {state_root}" in proc.stderr


def _fake_apt(folder: Path, exit_code: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    apt = folder / "apt-get"
    apt.write_text(f'#!/bin/sh\necho "$@" >> {folder}/apt.log\nexit {exit_code}\n')
    apt.chmod(0o755)
    return folder / "apt.log"


def _fake_postgres(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for tool in server.PG_TOOLS:
        (folder / tool).write_text("#!/bin/sh\n")
        (folder / tool).chmod(0o755)
    return folder


def test_missing_postgres_is_installed_with_apt_get_as_root(tmp_path, monkeypatch, capsys):
    log = _fake_apt(tmp_path / "path", 0)
    installed = _fake_postgres(tmp_path / "pg" / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'path'}:{os.environ['PATH']}")
    monkeypatch.setattr(server, "_is_root", lambda: True)
    found = server.find_postgres(candidates=lambda: [installed] if log.exists() else [])
    assert found == installed
    assert log.read_text().split() == ["install", "-y", "-q", "--no-install-recommends", "postgresql"]
    assert "PostgreSQL not found; installing it: apt-get install -y postgresql" in capsys.readouterr().err


def test_a_failed_install_updates_the_lists_once_then_says_how_to_install(tmp_path, monkeypatch):
    log = _fake_apt(tmp_path / "path", 1)
    monkeypatch.setenv("PATH", f"{tmp_path / 'path'}:{os.environ['PATH']}")
    monkeypatch.setattr(server, "_is_root", lambda: True)
    with pytest.raises(server.ServerError, match="`apt-get install -y postgresql` failed; install it"):
        server.find_postgres(candidates=list)
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["install", "update", "install"]


def test_missing_postgres_without_root_says_how_to_install(tmp_path, monkeypatch):
    log = _fake_apt(tmp_path / "path", 0)
    monkeypatch.setenv("PATH", f"{tmp_path / 'path'}:{os.environ['PATH']}")
    monkeypatch.setattr(server, "_is_root", lambda: False)
    with pytest.raises(server.ServerError, match=r"PostgreSQL not found \(looked for initdb, pg_ctl.*apt-get install"):
        server.find_postgres(candidates=list)
    assert not log.exists()


def test_postgres_is_found_on_path_or_in_the_versioned_folders(tmp_path, monkeypatch):
    on_path = _fake_postgres(tmp_path / "local" / "bin")
    monkeypatch.setenv("PATH", f"{on_path}:{os.environ['PATH']}")
    assert server.postgres_candidates()[0] == on_path
    assert server.find_postgres(install=False) == on_path
