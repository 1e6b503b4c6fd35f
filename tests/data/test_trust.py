"""Planted pickle payloads under the data root never run: raw Planetoid files are checked against their published
hashes, processed folders need graphlearn's seal (issue 12)."""

import os
import pickle
import shutil
from pathlib import Path

import pytest

from graphlearn.data import load_dataset
from graphlearn.data.trust import SEAL, UntrustedFileError, check_processed, seal_processed


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _writable_copy(shared_data: Path, tmp_path: Path) -> Path:
    """A writable data root with Cora's raw files (copied into the test's temp folder, never into the checkout)."""
    raw = tmp_path / "root" / "planetoid" / "Cora" / "raw"
    raw.mkdir(parents=True)
    for f in (shared_data / "planetoid" / "Cora" / "raw").iterdir():
        shutil.copyfile(f, raw / f.name)
    return tmp_path / "root"


@pytest.mark.needs_data
def test_a_planted_raw_file_is_refused_before_unpickling(shared_data, tmp_path):
    root = _writable_copy(shared_data, tmp_path)
    marker = tmp_path / "pwned"
    (root / "planetoid/Cora/raw/ind.cora.x").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(UntrustedFileError, match=r"ind\.cora\.x is not the published file \(sha256 [0-9a-f]{64}, "):
        load_dataset("cora", root=root)
    assert not marker.exists()


@pytest.mark.needs_data
def test_processed_files_need_the_seal(shared_data, tmp_path):
    root = _writable_copy(shared_data, tmp_path)
    data = load_dataset("cora", root=root)  # PyG processes, graphlearn seals
    processed = root / "planetoid/Cora/processed"
    assert (processed / SEAL).is_file() and data.num_nodes == 2708
    assert load_dataset("cora", root=root).num_nodes == 2708  # sealed: read as is
    marker = tmp_path / "pwned"
    import torch

    torch.save({"x": _Payload(marker)}, processed / "data.pt")  # a planted processed file
    with pytest.raises(UntrustedFileError, match="changed since graphlearn wrote it; PyG would unpickle"):
        load_dataset("cora", root=root)
    (processed / SEAL).unlink()
    with pytest.raises(UntrustedFileError, match="was not written by graphlearn"):
        load_dataset("cora", root=root)
    assert not marker.exists()


def test_unsealed_folders_in_graphlearns_cache_are_rebuilt(tmp_path):
    folder = tmp_path / "processed"
    folder.mkdir()
    (folder / "data.pt").write_bytes(b"anything")
    check_processed(folder, ours=True)
    assert not folder.exists()
    folder.mkdir()
    (folder / "data.pt").write_bytes(b"written by graphlearn")
    seal_processed(folder)
    check_processed(folder, ours=False)  # sealed and unchanged: accepted
    assert (folder / "data.pt").exists()
