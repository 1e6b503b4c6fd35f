"""graphlearn.features: node-feature files (round trip, atomic writes, and every file it refuses)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from graphlearn import features
from graphlearn.features import FEATURES_FILE, load_features, save_features
from graphlearn.methods import giant


def test_round_trip_folder_and_sidecar(tmp_path):
    x = torch.randn(7, 3)
    path = save_features(tmp_path / "out", x, {"dataset": "toy"})
    assert path == tmp_path / "out" / FEATURES_FILE
    assert sorted(p.name for p in path.parent.iterdir()) == ["features.json", "features.npz"]  # no temp file left
    loaded, meta = load_features(path.parent)
    assert loaded.dtype == torch.float32 and torch.equal(loaded, x)
    assert meta == {"dataset": "toy", "num_nodes": 7, "dim": 3} == json.loads(path.with_suffix(".json").read_text())
    loaded, _ = load_features(save_features(tmp_path / "f.npz", x.double().numpy()))
    assert torch.equal(loaded, x)


def test_giant_re_exports_them():
    assert giant.save_features is save_features and giant.load_features is load_features
    assert giant.FEATURES_FILE == FEATURES_FILE
    assert not hasattr(giant.export, "save_features") and not hasattr(giant.export, "load_features")


def test_save_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="non-finite"):
        save_features(tmp_path / "f.npz", torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(ValueError, match="num_nodes"):
        save_features(tmp_path / "f.npz", torch.zeros(3, 2), {"num_nodes": 4})
    with pytest.raises(ValueError, match=".npz"):
        save_features(tmp_path / "f.csv", torch.zeros(3, 2))
    with pytest.raises(ValueError, match="2-D"):
        save_features(tmp_path / "f.npz", torch.zeros(3))
    assert not list(tmp_path.iterdir())


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    path = save_features(tmp_path / "f.npz", torch.ones(2, 2))

    def disk_full(fh, **arrays):
        fh.write(b"PK\x03\x04 half")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError):
        save_features(path, torch.zeros(2, 2))
    monkeypatch.undo()
    assert torch.equal(load_features(path)[0], torch.ones(2, 2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json", "f.npz"]


def test_load_missing_and_run_reference(tmp_path):
    with pytest.raises(ValueError, match="run reference"):
        load_features("pretrained:abc123")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_features(tmp_path / "missing.npz")
    with pytest.raises(FileNotFoundError, match="features.npz"):
        load_features(tmp_path)  # a folder without features.npz


def _raw(path, **arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


@pytest.mark.parametrize("chunk", [1 << 16, 2])
def test_load_refuses_nan_and_inf_naming_the_first_and_the_count(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(features, "_CHUNK_ROWS", chunk)  # also across row blocks
    x = np.ones((6, 4), dtype=np.float32)
    x[3, 2], x[3, 3], x[5, 0] = np.nan, np.inf, -np.inf
    path = _raw(tmp_path / "nan.npz", features=x)
    with pytest.raises(
        ValueError,
        match=r"nan.npz: features\[3, 2\] = nan at row 3, column 2; features must be finite "
        r"\(3 non-finite value\(s\) in total\)",
    ):
        load_features(path)
    x[3, 2] = x[3, 3] = 1.0
    with pytest.raises(ValueError, match=r"= -inf at row 5, column 0; .*\(1 non-finite"):
        load_features(_raw(path, features=x))
    # finite float64 beyond float32's range becomes inf when loaded: refused too
    with pytest.raises(ValueError, match=r"features\[0, 1\] = 1e\+300 \(overflows float32\) at row 0, column 1"):
        load_features(_raw(path, features=np.array([[0.0, 1e300]])))


def test_load_refuses_empty_and_truncated_files(tmp_path):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.npz is not a readable features file: it is empty \(0 bytes\)"):
        load_features(empty)
    good = save_features(tmp_path / "good.npz", torch.randn(50, 8)).read_bytes()
    for cut in (10, len(good) // 2, len(good) - 30):
        (tmp_path / "cut.npz").write_bytes(good[:cut])
        with pytest.raises(ValueError, match="cut.npz is not a readable features file"):
            load_features(tmp_path / "cut.npz")
    flipped = bytearray(good)
    flipped[200] ^= 0xFF  # inside the features array: the archive opens, reading the member fails its CRC check
    (tmp_path / "crc.npz").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="crc.npz is not a readable features file: BadZipFile"):
        load_features(tmp_path / "crc.npz")
    (tmp_path / "text.npz").write_text("node,f0\n0,1.0\n")
    with pytest.raises(ValueError, match="text.npz is not a readable features file"):
        load_features(tmp_path / "text.npz")
    with open(tmp_path / "array.npz", "wb") as fh:
        np.save(fh, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="array.npz is not a readable features file: .*single .npy array"):
        load_features(tmp_path / "array.npz")
    with pytest.raises(ValueError, match="obj.npz is not a readable features file"):  # pickled object arrays
        load_features(_raw(tmp_path / "obj.npz", features=np.array([[1.0, None]], dtype=object)))
    with pytest.raises(ValueError, match="meta.npz is not a readable features file: its metadata is not JSON"):
        load_features(_raw(tmp_path / "meta.npz", features=np.zeros((2, 2)), meta_json=np.array("{oops")))


def test_load_refuses_wrong_contents(tmp_path):
    with pytest.raises(ValueError, match=r"has no 'features' array \(keys: \['x'\]\)"):
        load_features(_raw(tmp_path / "a.npz", x=np.zeros((2, 2))))
    with pytest.raises(ValueError, match=r"must be 2-D \[N, D\], got shape \(3,\)"):
        load_features(_raw(tmp_path / "b.npz", features=np.zeros(3)))
    with pytest.raises(ValueError, match="dtype <U1, expected numbers"):
        load_features(_raw(tmp_path / "c.npz", features=np.array([["a", "b"]])))
    meta = np.array(json.dumps({"num_nodes": 5, "dim": 2}))
    with pytest.raises(ValueError, match=r"shape \(4, 2\) disagree with meta num_nodes=5, dim=2"):
        load_features(_raw(tmp_path / "d.npz", features=np.zeros((4, 2)), meta_json=meta))
