"""From a Cold Brew run to a served cold-start endpoint: ``graphlearn export``, ``neighbors`` and ``serve``, over
loopback, with the bad inputs of issue 11."""

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from pipelines.cli import main

COLDBREW = [
    "coldbrew", "--dataset", "synthetic:200", "--runs", "1", "--protocols", "coldstart", "--no-sage", "--json",
    "--no-progress", "--set", "epochs=10", "--set", "k=5", "--set", "student_hidden=16", "--set", "teacher_hidden=8",
]  # fmt: skip


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One small Cold Brew run in its own store, exported and registered."""
    import os

    work = tmp_path_factory.mktemp("export-job")
    old = os.getcwd()
    os.chdir(work)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        import contextlib
        import io

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(COLDBREW) == 0
        out = buf.getvalue()
        run_id = json.loads(out[out.index("{") :])["run_id"]
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(["export", "--run", run_id, "--json", "--no-progress"]) == 0
        result = json.loads(buf.getvalue())
        from graphlearn.data import load_dataset

        data = load_dataset("synthetic:200", seed=0)
        rows = [3, 50, 120]
        table = pd.DataFrame(data.x[rows].numpy())
        table.insert(0, "id", [9001, 9002, 9003])
        table.to_csv(work / "new_nodes.csv", index=False)
        yield {"work": work, "run_id": run_id, "result": result, "x": data.x[rows].numpy()}
    finally:
        os.chdir(old)
        mlflow.set_tracking_uri(None)


def test_export_writes_logs_and_registers(exported):
    from graphlearn.export import ColdStartEndpoint, read_export

    result, work = exported["result"], exported["work"]
    folder = work / result["folder"]
    exp = read_export(folder, verify=True)
    assert exp.vectors.shape == (200, exp.dim) and exp.metadata["run_id"] == exported["run_id"]
    assert result["registered_model"] == "graphlearn-synthetic-200-student" and result["alias"] == "champion"
    mlflow.set_tracking_uri(f"sqlite:///{work / 'mlruns' / 'mlflow.db'}")
    client = mlflow.tracking.MlflowClient()
    version = client.get_model_version_by_alias("graphlearn-synthetic-200-student", "champion")
    assert version.tags["run_id"] == exported["run_id"] and version.tags["num_nodes"] == "200"
    logged = {a.path for a in client.list_artifacts(exported["run_id"], result["artifact_path"])}
    assert {f"{result['artifact_path']}/{f}" for f in ("embeddings.parquet", "index.faiss", "metadata.json")} <= logged
    assert client.get_run(exported["run_id"]).data.tags["graphlearn.export.student"] == result["artifact_path"]
    # the registered model answers as the library does, for float32, float64 and lists alike
    model = mlflow.pyfunc.load_model(result["alias_uri"])
    local = ColdStartEndpoint.load(folder).query(exported["x"], k=3)
    for features in (exported["x"], exported["x"].astype(np.float64), exported["x"].tolist()):
        frame = model.predict(features, params={"k": 3})
        assert [list(r) for r in frame["neighbor_ids"]] == local.neighbor_ids
        assert frame["class_id"].tolist() == local.class_id.tolist()
    with pytest.raises(mlflow.exceptions.MlflowException, match="trained on 64 features"):
        model.predict(exported["x"][:, :5])


def test_neighbors_cli_gives_the_same_answer(exported, capsys, monkeypatch):
    from graphlearn.export import ColdStartEndpoint

    monkeypatch.chdir(exported["work"])
    local = ColdStartEndpoint.load(exported["work"] / exported["result"]["folder"]).query(exported["x"], k=4)
    for model in (exported["result"]["alias_uri"], exported["result"]["folder"]):
        assert main(["neighbors", "--model", model, "--features", "new_nodes.csv", "--k", "4", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert [r["id"] for r in out] == [9001, 9002, 9003]
        assert [r["neighbor_ids"] for r in out] == local.neighbor_ids
    assert main(["neighbors", "--model", exported["result"]["folder"], "--features", "new_nodes.csv", "--k", "2"]) == 0
    table = capsys.readouterr().out
    assert "9002" in table and str(local.neighbor_ids[1][0]) in table


@pytest.mark.parametrize(
    "csv, message",
    [
        ("id,a,b\nx,1,2\n", "node id 'x' in column 'id' is not an integer"),
        ("id,a,b\n1,1,2\n1,3,4\n", "row 1: duplicate node id 1"),
        ("id,a,b\n1,1,zz\n", "row 0, column 'b': 'zz' is not a number"),
        ("id\n1\n", "needs an id column and at least one feature column"),
    ],
)
def test_neighbors_bad_csv_exits_2(exported, capsys, monkeypatch, tmp_path, csv, message):
    monkeypatch.chdir(exported["work"])
    (tmp_path / "bad.csv").write_text(csv)
    rc = main(["neighbors", "--model", exported["result"]["folder"], "--features", str(tmp_path / "bad.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["export", "--run", "0123456789abcdef"], "unknown run id '0123456789abcdef'"),
        (["neighbors", "--model", "models:/no-such-model@champion", "--features", "new_nodes.csv"], "not found"),
        (["neighbors", "--model", "{folder}", "--features", "new_nodes.csv", "--k", "500"], r"k must be in [1, 200]"),
        (["neighbors", "--model", "{folder}", "--features", "missing.csv"], "features file not found: missing.csv"),
        (["serve", "--model", "models:/no-such-model/3"], "not found in the tracking store"),
    ],
)
def test_bad_requests_exit_2_with_one_line(exported, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(exported["work"])
    argv = [a.replace("{folder}", exported["result"]["folder"]) for a in argv]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_export_refuses_a_run_that_is_not_coldbrew(exported, capsys, monkeypatch):
    monkeypatch.chdir(exported["work"])
    mlflow.set_tracking_uri(f"sqlite:///{exported['work'] / 'mlruns' / 'mlflow.db'}")
    with mlflow.start_run(tags={"job": "train"}) as other:
        pass
    assert main(["export", "--run", other.info.run_id]) == 2
    assert "is a 'train' run; export needs the parent run of a `graphlearn coldbrew` job" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(port, body):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_served_endpoint_over_loopback(exported):
    """Start `graphlearn serve`, query it over HTTP, compare with the library, stop it."""
    import sys

    from graphlearn.export import ColdStartEndpoint

    port = _free_port()
    cmd = [sys.executable, "-m", "pipelines.serve", "--model", exported["result"]["alias_uri"], "--port", str(port)]
    server = subprocess.Popen(cmd, cwd=exported["work"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    raise AssertionError(server.stdout.read().decode()[-2000:]) from None
                time.sleep(0.5)
        local = ColdStartEndpoint.load(exported["work"] / exported["result"]["folder"]).query(exported["x"], k=3)
        status, body = _post(port, {"inputs": exported["x"].tolist(), "params": {"k": 3}})
        assert status == 200, body
        answers = body["predictions"]
        assert [a["neighbor_ids"] for a in answers] == local.neighbor_ids
        assert [a["class_id"] for a in answers] == local.class_id.tolist()
        assert np.allclose([a["embedding"] for a in answers], local.embedding, atol=1e-5)
        for request, message in (
            ({"inputs": [[0.0] * 5]}, "5 columns but the model was trained on 64 features"),
            ({"inputs": [[float("nan")] * 64]}, "NaN"),
            ({"inputs": [[0.0] * 64], "params": {"k": 1000}}, "k must be in [1, 200]"),
        ):
            status, body = _post(port, request)
            assert status == 400 and message in body["message"], body
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_update_registers_a_version_on_the_old_index(exported, capsys, monkeypatch):
    """`graphlearn update`: both students measured, the compatible one registered with the old index, the alias moved
    only when compatible on validation; --no-promote moves nothing."""
    from graphlearn.export import read_export

    monkeypatch.chdir(exported["work"])
    name = exported["result"]["registered_model"]
    assert main(["update", "--from", f"models:/{name}@champion", "--json", "--no-progress", "--no-promote"]) == 0
    report = json.loads(capsys.readouterr().out)
    for mode in ("independent", "compatible"):
        assert set(report["modes"][mode]["test"]) == {"old/old", "new/new", "new/old"}
        assert {"old_acc", "new_acc", "nfr"} <= set(report["modes"][mode]["classification"]["overall"])
    # same old model on both sides: old/old is one number
    modes = report["modes"]
    assert modes["independent"]["test"]["old/old"] == modes["compatible"]["test"]["old/old"]
    assert report["version"] == 2 and report["promoted"] is False
    mlflow.set_tracking_uri(f"sqlite:///{exported['work'] / 'mlruns' / 'mlflow.db'}")
    client = mlflow.tracking.MlflowClient()
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    tags = client.get_model_version(name, "2").tags
    assert tags["update_of"] == f"models:/{name}@champion" and "test.nfr" in tags
    # the new version serves the OLD index (no re-indexing) with the new model
    dst = str(exported["work"] / "v2")
    new_dir = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/2", dst_path=dst)
    new = read_export(next(Path(new_dir).rglob("metadata.json")).parent, verify=True)
    old = read_export(exported["work"] / exported["result"]["folder"])
    assert new.metadata["embeddings_sha256"] == old.metadata["embeddings_sha256"]
    assert new.metadata["model_sha256"] != old.metadata["model_sha256"]
    assert new.metadata["update"]["mode"] == "compatible"
    answer = mlflow.pyfunc.load_model(f"models:/{name}/2").predict(exported["x"], params={"k": 3})
    assert len(answer) == 3
    # promotion follows the validation verdict
    assert main(["update", "--from", f"models:/{name}/1", "--json", "--seed", "5"]) == 0
    report = json.loads(capsys.readouterr().out)
    champion = str(client.get_model_version_by_alias(name, "champion").version)
    assert report["promoted"] == report["compatible_on_validation"]
    assert champion == ("3" if report["promoted"] else "1")


@pytest.mark.parametrize(
    "source, message",
    [
        ("runs:/abc/endpoint", "--from must be a registered model"),
        ("models:/no-such-model@champion", "not found in the tracking store"),
    ],
)
def test_update_bad_source_exits_2(exported, capsys, monkeypatch, source, message):
    monkeypatch.chdir(exported["work"])
    assert main(["update", "--from", source]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_readme_python_snippet_runs_as_written(exported):
    """The README's loading snippet, run in a fresh interpreter from the job's folder (only the model name and the
    feature width of this small graph substituted)."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "load_model" in b]
    name = exported["result"]["registered_model"]
    code = block.replace("graphlearn-cora-student", name).replace(
        "[[0.0] * 1433]", f"[[0.0] * {exported['x'].shape[1]}]"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=exported["work"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "neighbor_ids" in out.stdout and "class_name" in out.stdout
