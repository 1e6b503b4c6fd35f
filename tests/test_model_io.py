"""graphlearn.model_io: one versioned file format for every saved model (round trips, old files, errors, atomicity)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from torch import nn

from graphlearn import __version__, model_io
from graphlearn.methods import coldbrew
from graphlearn.methods.coldbrew import ColdBrewStudent, ColdBrewTeacher, MLPClassifier
from graphlearn.methods.giant import MLPEncoder
from graphlearn.methods.grda import DANN, GRDA, AdaptConfig, SourceOnly
from graphlearn.models import MODELS, build_model, default_hparams, split_hparams

N, F = 12, 5
GEN = torch.Generator().manual_seed(0)
X = torch.randn(N, F, generator=GEN)
EDGES = torch.tensor([[0, 1, 1, 2, 2, 3, 4, 5, 5, 6], [1, 0, 2, 1, 3, 2, 5, 4, 6, 5]])
DOMAIN = torch.arange(N) % 4


def _student(query: str = "embedding") -> ColdBrewStudent:
    torch.manual_seed(1)
    student = ColdBrewStudent(F, 6, 3, hidden_channels=8, k=2, query=query, metric="cos")
    candidates = torch.zeros(N, dtype=torch.bool)
    candidates[:7] = True
    student.set_teacher(torch.randn(N, 6), candidates, features=X)
    return student


def _grda(cls) -> nn.Module:
    torch.manual_seed(2)
    adjacency = torch.tensor([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]], dtype=torch.float64)
    source = torch.tensor([True, True, False, False])
    cfg = AdaptConfig(hidden=8, encoder_layers=2, predictor_layers=2, disc_layers=2, lambda_adv=0.5, disc_radius=2.0)
    return cls(F, 3, torch.randn(4, 2, dtype=torch.float64), adjacency, source, "classification", cfg)


# name -> (a model, its output on the shared inputs)
CASES = {
    "ColdBrewTeacher": (
        lambda: ColdBrewTeacher(F, 8, 3, N, se_layers=(0, 1), conv="sage"),
        lambda m: m(X, EDGES),
    ),
    "ColdBrewStudent": (_student, lambda m: m.logits(X)),
    "MLPClassifier": (lambda: MLPClassifier(F, 8, 3, num_layers=3, dropout=0.2), lambda m: m(X)),
    "MLPEncoder": (lambda: MLPEncoder(F, 8, 4, num_layers=3, dropout=0.2, input_dropout=0.1), lambda m: m(X)),
    "GRDA": (lambda: _grda(GRDA), lambda m: m(X, DOMAIN)),
    "DANN": (lambda: _grda(DANN), lambda m: m(X, DOMAIN)),
    "AdaptationMethod": (lambda: _grda(SourceOnly), lambda m: m(X, DOMAIN)),
    "Baseline": (lambda: build_model("sage", F, 8, 3, num_layers=3, dropout=0.2), lambda m: m(X, EDGES)),
}


def test_every_registered_class_has_a_case():
    assert set(CASES) == set(model_io.MODEL_CLASSES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_gives_identical_outputs(name, tmp_path):
    make, output = CASES[name]
    model = make()
    with torch.no_grad():  # non-zero structural embeddings, so they have to round-trip too
        for p in model.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=GEN))
    model.eval()
    path = model_io.save(model, tmp_path / "m" / f"{name}.pt", config={"k": 3}, meta={"dataset": "toy"})
    assert [p.name for p in path.parent.iterdir()] == [f"{name}.pt"]  # no temp file left
    loaded = model_io.load(path)
    assert type(loaded) is type(model) and not loaded.training
    assert loaded.saved_config == {"k": 3} and loaded.saved_meta == {"dataset": "toy"}
    assert loaded.hparams.keys() == model.hparams.keys()
    with torch.no_grad():
        assert torch.equal(output(loaded), output(model))
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    header = model_io.read_header(path)
    assert header["format"] == "graphlearn.model" and header["format_version"] == model_io.FORMAT_VERSION == 1
    assert header["graphlearn_version"] == __version__ and header["model_class"] == name


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_baseline_round_trips_with_its_settings(name, tmp_path):
    """`graphlearn train` keeps each seed's model this way: built by name, saved, rebuilt by name."""
    kwargs, _ = split_hparams(default_hparams(name))
    torch.manual_seed(3)
    model = build_model(name, F, out_channels=3, **kwargs).eval()
    x = model.preprocess(X, EDGES) if hasattr(model, "preprocess") else X
    loaded = model_io.load(model_io.save(model, tmp_path / f"{name}.pt"))
    assert type(loaded) is type(model) and loaded.hparams == model.hparams and loaded.hparams["name"] == name
    with torch.no_grad():
        assert torch.equal(loaded(x, EDGES), model(x, EDGES))


def test_teacher_and_student_keep_their_settings(tmp_path):
    teacher = model_io.load(model_io.save(CASES["ColdBrewTeacher"][0](), tmp_path / "t.pt"))
    assert teacher.se_layers == (0, 1) and teacher.conv == "sage" and teacher.saved_config is None
    student = _student(query="features")
    loaded = model_io.load(model_io.save(student, tmp_path / "s.pt"))
    assert loaded.query == "features" and torch.equal(loaded.candidate_features, student.candidate_features)
    assert torch.equal(loaded.candidate_index, student.candidate_index)


@pytest.mark.parametrize("cls", [GRDA, DANN, SourceOnly])
def test_grda_models_keep_domain_graph_and_config_and_train_on(cls, tmp_path):
    model = _grda(cls)
    loaded = model_io.load(model_io.save(model, tmp_path / "g.pt"))
    assert loaded.cfg == model.cfg and isinstance(loaded.cfg, AdaptConfig) and loaded.task == "classification"
    for buf in ("embedding", "adjacency", "source"):
        assert torch.equal(getattr(loaded, buf), getattr(model, buf))
    if cls is DANN:
        assert loaded.reverse.scale == 0.5
    # the sampler's rng is not saved: a loaded model gets a fresh one and trains on
    loaded.train()
    loaded.configure_optimizers()
    x, y = torch.randn(4, 3, F), torch.randint(0, 3, (4, 3))
    losses = loaded.training_step(x, y, torch.arange(4)[:, None].expand(-1, 3))
    assert all(np.isfinite(v) for v in losses.values())


def test_coldbrew_names_are_the_library_ones():
    assert coldbrew.save is model_io.save and coldbrew.load is model_io.load
    assert coldbrew.IncompatibleModelError is model_io.IncompatibleModelError
    assert coldbrew.FORMAT_VERSION == model_io.FORMAT_VERSION
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("graphlearn.methods.coldbrew.model_io")


def test_old_coldbrew_file_still_loads(tmp_path):
    """A file as graphlearn.methods.coldbrew.model_io wrote it before the format moved (no "meta")."""
    student = _student().eval()
    payload = {
        "format": "graphlearn.coldbrew",
        "format_version": 1,
        "graphlearn_version": "0.1.0",
        "model_class": "ColdBrewStudent",
        "hparams": student.hparams,
        "config": {"k": 2},
        "state_dict": {k: v.detach().cpu() for k, v in student.state_dict().items()},
    }
    torch.save(payload, tmp_path / "old.pt")
    loaded = model_io.load(tmp_path / "old.pt")
    assert loaded.saved_config == {"k": 2} and loaded.saved_meta is None
    assert torch.equal(loaded.logits(X), student.logits(X))
    torch.save({**payload, "format_version": 2}, tmp_path / "old2.pt")
    with pytest.raises(model_io.IncompatibleModelError, match="format version 2 .*reads format version 1"):
        model_io.load(tmp_path / "old2.pt")


def test_other_format_version_names_both_versions(tmp_path, monkeypatch):
    path = model_io.save(MLPClassifier(F, 4, 3), tmp_path / "mlp.pt")
    v = model_io.FORMAT_VERSION
    monkeypatch.setattr(model_io, "FORMAT_VERSION", v + 1)
    with pytest.raises(model_io.IncompatibleModelError, match=f"format version {v} .*reads format version {v + 1}"):
        model_io.load(path)
    with pytest.raises(ValueError, match=f"written by graphlearn {__version__}"):
        model_io.read_header(path)


class _Foreign:
    pass


def test_files_that_are_not_model_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        model_io.load(tmp_path / "missing.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"other.pt is not a graphlearn model file \(format None"):
        model_io.load(tmp_path / "other.pt")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(ValueError, match="not a graphlearn model file .*a Tensor"):
        model_io.load(tmp_path / "tensor.pt")
    torch.save({"obj": _Foreign()}, tmp_path / "pickle.pt")  # weights_only refuses arbitrary classes
    with pytest.raises(ValueError, match="pickle.pt is not a readable graphlearn model file"):
        model_io.load(tmp_path / "pickle.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.pt is not a readable graphlearn model file: it is empty \(0 bytes\)"):
        model_io.load(tmp_path / "empty.pt")
    good = model_io.save(MLPClassifier(F, 4, 3), tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="cut.pt is not a readable graphlearn model file"):
        model_io.load(tmp_path / "cut.pt")


def test_unknown_class_and_mismatched_weights(tmp_path):
    payload = model_io.read_header(model_io.save(MLPClassifier(F, 4, 3), tmp_path / "mlp.pt"))
    torch.save({**payload, "model_class": "Transformer"}, tmp_path / "unknown.pt")
    with pytest.raises(ValueError, match="unknown model class 'Transformer'; known: .*'MLPClassifier'"):
        model_io.load(tmp_path / "unknown.pt")
    torch.save({**payload, "hparams": {**payload["hparams"], "hidden_channels": 7}}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="bad.pt: cannot rebuild the saved MLPClassifier"):
        model_io.load(tmp_path / "bad.pt")
    torch.save({**payload, "hparams": None}, tmp_path / "nohp.pt")
    with pytest.raises(ValueError, match="damaged .*'hparams' is not a dict"):
        model_io.load(tmp_path / "nohp.pt")


def test_save_refuses_unregistered_models_and_unstorable_values(tmp_path):
    class Custom(MLPClassifier):
        pass

    with pytest.raises(TypeError, match="cannot save a .*Custom; supported: "):
        model_io.save(Custom(F, 4, 3), tmp_path / "c.pt")
    with pytest.raises(TypeError, match="cannot save a Linear"):
        model_io.save(nn.Linear(2, 2), tmp_path / "l.pt")
    with pytest.raises(TypeError, match=r"config\['split'\]\[1\] is a set"):
        model_io.save(MLPClassifier(F, 4, 3), tmp_path / "m.pt", config={"split": [1, {2}]})
    with pytest.raises(TypeError, match="non-string key 1"):
        model_io.save(MLPClassifier(F, 4, 3), tmp_path / "m.pt", meta={1: 2})
    assert not (tmp_path / "m.pt").exists()
    # numpy scalars (common in metrics) are stored as Python numbers, so weights_only can read them back
    loaded = model_io.load(model_io.save(MLPClassifier(F, 4, 3), tmp_path / "m.pt", meta={"acc": np.float32(0.5)}))
    assert loaded.saved_meta == {"acc": 0.5} and type(loaded.saved_meta["acc"]) is float


def test_register_model(tmp_path, monkeypatch):
    monkeypatch.setattr(model_io, "MODEL_CLASSES", dict(model_io.MODEL_CLASSES))

    @model_io.register_model
    class Scaler(nn.Module):
        def __init__(self, dim: int, scale: float = 1.0):
            super().__init__()
            self.hparams = {"dim": dim, "scale": scale}
            self.weight = nn.Parameter(torch.full((dim,), scale))

        def forward(self, x):
            return x * self.weight

    model = Scaler(F, scale=3.0)
    loaded = model_io.load(model_io.save(model, tmp_path / "s.pt"))
    assert isinstance(loaded, Scaler) and torch.equal(loaded(X), model(X))
    assert model_io.register_model(Scaler) is Scaler  # registering again is harmless
    with pytest.raises(ValueError, match="'MLPEncoder' is already registered"):
        model_io.register_model(name="MLPEncoder")(Scaler)


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    model = MLPClassifier(F, 4, 3).eval()
    path = model_io.save(model, tmp_path / "mlp.pt", meta={"run": 1})
    before = path.read_bytes()

    def disk_full(obj, fh):
        fh.write(b"half a model")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        model_io.save(MLPClassifier(F, 4, 3), path, meta={"run": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["mlp.pt"]
    loaded = model_io.load(path)
    assert loaded.saved_meta == {"run": 1} and torch.equal(loaded(X), model(X))
