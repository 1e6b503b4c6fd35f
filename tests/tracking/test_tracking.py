import json

import mlflow
import pytest

from graphlearn import tracking


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = tracking.configure(experiment="test")
    yield tmp_path, uri
    mlflow.set_tracking_uri(None)


def test_default_store_is_sqlite_under_mlruns(store):
    tmp_path, uri = store
    assert uri == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert (tmp_path / "mlruns" / "mlflow.db").exists()


def test_parent_and_nested_runs_with_artifacts(store):
    tmp_path, _ = store
    with tracking.parent_run("job", {"lr": 0.01, "model": {"hidden": 16}, "models": ["gcn", "mlp"]}) as parent:
        for seed in range(2):
            with tracking.child_run(f"seed={seed}", {"seed": seed}):
                for epoch in range(3):
                    tracking.log_metrics({"val_acc": epoch * 10.0}, step=epoch)
        tracking.log_json({"a": 1}, "results/results.json")
        tracking.log_text("| x |", "results/results.md")
    client = mlflow.tracking.MlflowClient()
    run = client.get_run(parent.info.run_id)
    assert run.data.params["model.hidden"] == "16"
    assert json.loads(run.data.params["models"]) == ["gcn", "mlp"]
    children = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 2
    history = client.get_metric_history(children[0].info.run_id, "val_acc")
    assert [m.step for m in history] == [0, 1, 2]
    arts = {a.path for a in client.list_artifacts(parent.info.run_id, "results")}
    assert arts == {"results/results.json", "results/results.md"}
    local = tracking.download_artifact(parent.info.run_id, "config.json", tmp_path / "dl")
    assert json.load(open(local))["model"] == {"hidden": 16}
    # Artifacts live in the local folder beside the database, not in the working directory.
    assert (tmp_path / "mlruns" / "artifacts").is_dir()


def test_env_uri_overrides_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "elsewhere.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{other}")
    try:
        assert tracking.configure(experiment="x") == f"sqlite:///{other}"
        assert other.exists() and not (tmp_path / "mlruns").exists()
    finally:
        mlflow.set_tracking_uri(None)


def test_an_experiment_another_job_just_created_is_used(store, monkeypatch):
    """Two jobs starting at once against a server both see no experiment; the second one's create fails with
    RESOURCE_ALREADY_EXISTS (a shared server takes no file lock), and it must use the first one's."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS

    create = mlflow.create_experiment

    def racing(name, **kwargs):
        create(name, **kwargs)  # the other job wins the race
        raise MlflowException(f"Experiment(name={name}) already exists", error_code=RESOURCE_ALREADY_EXISTS)

    monkeypatch.setattr(mlflow, "create_experiment", racing)
    tracking.configure(experiment="raced")
    assert mlflow.get_experiment_by_name("raced") is not None
    with tracking.parent_run("job", {"a": 1}) as run:
        pass
    assert run.info.experiment_id == mlflow.get_experiment_by_name("raced").experiment_id

    def refused(name, **kwargs):
        raise MlflowException("permission denied", error_code="PERMISSION_DENIED")

    monkeypatch.setattr(mlflow, "create_experiment", refused)
    with pytest.raises(MlflowException, match="permission denied"):  # other failures are not swallowed
        tracking.configure(experiment="refused")


def test_a_dataset_input_two_jobs_log_at_once_is_logged_once_each(store, monkeypatch):
    """A tracking server creates a dataset on first use without a lock: the job that loses the race gets a unique-key
    error (seen with two concurrent jobs against PostgreSQL), retries, and finds the winner's dataset."""
    import torch
    from mlflow.exceptions import MlflowException
    from torch_geometric.data import Data

    log_input, calls = mlflow.log_input, []

    def racing(ds, **kwargs):
        calls.append(ds.name)
        if len(calls) == 1:
            raise MlflowException('(psycopg2.errors.UniqueViolation) duplicate key value violates "dataset_pk"')
        return log_input(ds, **kwargs)

    monkeypatch.setattr(mlflow, "log_input", racing)
    graph = Data(x=torch.ones(4, 3), y=torch.tensor([0, 1, 0, 1]))
    with tracking.parent_run("job", {"a": 1}) as run:
        tracking.log_dataset(graph, "toy", "synthetic:4")
    assert calls == ["toy", "toy"]
    assert [d.dataset.name for d in mlflow.get_run(run.info.run_id).inputs.dataset_inputs] == ["toy"]

    def refused(ds, **kwargs):
        raise MlflowException("permission denied")

    monkeypatch.setattr(mlflow, "log_input", refused)
    with tracking.parent_run("job", {"a": 1}), pytest.raises(MlflowException, match="permission denied"):
        tracking.log_dataset(graph, "toy", "synthetic:4")


def test_log_curve_batches_every_epoch_with_its_step(store):
    with tracking.parent_run("job", {}) as run:
        tracking.log_curve([{"val": 1.0, "loss": 3.0}, {"val": 2.0, "loss": 2.0}, {"val": 4.0, "loss": 1.0}])
    client = mlflow.tracking.MlflowClient()
    hist = client.get_metric_history(run.info.run_id, "val")
    assert [(m.step, m.value) for m in hist] == [(1, 1.0), (2, 2.0), (3, 4.0)]


def test_log_curve_without_run_fails_clearly(store):
    with pytest.raises(RuntimeError, match="active MLflow run"):
        tracking.log_curve([{"a": 1.0}])


def test_model_names_with_plus_are_logged_under_valid_metric_names(store):
    with tracking.parent_run("job", {}) as run:
        tracking.log_metrics({"GCN+SE.overall": 1.0})
        tracking.log_curve([{"loss": 2.0}], prefix="GCN+SE.")
    metrics = mlflow.tracking.MlflowClient().get_run(run.info.run_id).data.metrics
    assert metrics == {"GCN_SE.overall": 1.0, "GCN_SE.loss": 2.0}


def test_log_torch_model_needs_a_batch_of_two():
    import numpy as np
    import torch

    from graphlearn import tracking

    with pytest.raises(ValueError, match="at least 2 rows"):
        tracking.log_torch_model(torch.nn.Linear(3, 2), "m", np.zeros((1, 3), dtype="float32"))
