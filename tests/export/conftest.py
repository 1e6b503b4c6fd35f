"""A small trained Cold Brew run shared by the export tests (seconds, on a synthetic graph)."""

import pytest
import torch

from graphlearn.data import load_dataset
from graphlearn.data.protocols import apply_protocol
from graphlearn.methods.coldbrew import ColdBrewConfig, run_coldbrew, save


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    torch.manual_seed(0)
    data = load_dataset("synthetic:240", seed=0)
    split = apply_protocol(data, "coldstart", 0, None)
    config = ColdBrewConfig(
        models=("GNN", "MLP", "GLNN", "ColdBrew"), epochs=25, patience=None, student_hidden=32, teacher_hidden=16, k=5
    )
    out = run_coldbrew(split, config, seed=0)
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for name, file in (("ColdBrew", "student.pt"), ("GLNN", "glnn.pt"), ("MLP", "mlp.pt")):
        paths[name] = save(out["trained"][name], folder / file)
    return {"data": data, "split": split, "out": out, "paths": paths}
