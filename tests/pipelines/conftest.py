"""Fixtures of the job tests: a temporary working folder with its own MLflow store, and the JSON a job printed."""

import json

import mlflow
import pytest


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield tmp_path
    mlflow.set_tracking_uri(None)


@pytest.fixture
def json_out(capsys):
    """``json_out()``: the results JSON the last command printed on stdout."""

    def read():
        out = capsys.readouterr().out
        return json.loads(out[out.index("{") :])

    return read
