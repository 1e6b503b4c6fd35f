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
    """``json_out()``: the results JSON the last command printed on stdout, which must be that JSON alone (progress,
    logs and notes go to stderr, so ``graphlearn ... --json | jq`` works)."""

    def read():
        out = capsys.readouterr().out
        try:
            return json.loads(out)
        except json.JSONDecodeError as e:
            raise AssertionError(
                f"stdout under --json is not one JSON document ({e}); it starts with {out[:200]!r}"
            ) from e

    return read
