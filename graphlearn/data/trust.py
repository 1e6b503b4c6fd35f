"""Files that are unpickled: known raw files checked against their published checksums, processed files accepted only
when this graphlearn wrote them.

PyG's Planetoid reader unpickles the raw ``ind.<name>.*`` files, and PyG's ``InMemoryDataset`` falls back to
``torch.load(weights_only=False)`` on processed files it cannot read safely: a crafted file under the data root would
run code. So before PyG opens anything:

* every raw file of a known dataset must have the SHA-256 published with it (:data:`KNOWN_SHA256`: the files of
  kimiyoung/planetoid, the source PyG downloads from); a different file is refused with its name and both hashes;
* a ``processed/`` folder must carry graphlearn's seal (``.graphlearn-sha256.json``: the hash of every file in it,
  written right after PyG processed the verified raw files). In graphlearn's own cache an unsealed or changed folder
  is removed and rebuilt; in the user's data root it is refused, naming the folder to delete.

What stays trusted: the Python packages installed (PyG, ogb, torch) and files graphlearn itself wrote and sealed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

__all__ = ["KNOWN_SHA256", "UntrustedFileError", "verify_known_files", "check_processed", "seal_processed"]

SEAL = ".graphlearn-sha256.json"

# relative to the data root; from kimiyoung/planetoid@af6abf4 (byte-identical to tkipf/gcn and PyG's download)
KNOWN_SHA256 = {
    "planetoid/Cora/raw/ind.cora.allx": "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
    "planetoid/Cora/raw/ind.cora.ally": "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
    "planetoid/Cora/raw/ind.cora.graph": "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
    "planetoid/Cora/raw/ind.cora.test.index": "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875",
    "planetoid/Cora/raw/ind.cora.tx": "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
    "planetoid/Cora/raw/ind.cora.ty": "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
    "planetoid/Cora/raw/ind.cora.x": "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
    "planetoid/Cora/raw/ind.cora.y": "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
    "planetoid/CiteSeer/raw/ind.citeseer.allx": "2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668",
    "planetoid/CiteSeer/raw/ind.citeseer.ally": "f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95",
    "planetoid/CiteSeer/raw/ind.citeseer.graph": "d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7",
    "planetoid/CiteSeer/raw/ind.citeseer.test.index": "2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4",  # noqa: E501
    "planetoid/CiteSeer/raw/ind.citeseer.tx": "539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21",
    "planetoid/CiteSeer/raw/ind.citeseer.ty": "55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce",
    "planetoid/CiteSeer/raw/ind.citeseer.x": "d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6",
    "planetoid/CiteSeer/raw/ind.citeseer.y": "8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924",
}


class UntrustedFileError(ValueError):
    """A file that would be unpickled is not the one published (or not one graphlearn wrote)."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_known_files(root: str | os.PathLike, relative: list[str] | tuple[str, ...]) -> None:
    """Check each existing file ``root/<relative>`` that :data:`KNOWN_SHA256` lists.

    Raises:
        UntrustedFileError: naming the file, the expected and the actual hash.
    """
    for rel in relative:
        expected = KNOWN_SHA256.get(rel)
        path = Path(root) / rel
        if expected is None or not path.is_file():
            continue
        actual = _sha256(path)
        if actual != expected:
            raise UntrustedFileError(
                f"{path} is not the published file (sha256 {actual}, expected {expected}); it would be unpickled, "
                "so it is refused: replace it with the original (see the dataset's how_to_get in `graphlearn datasets`)"
            )


def _contents(folder: Path) -> dict[str, str]:
    return {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != SEAL}


def check_processed(folder: str | os.PathLike, *, ours: bool) -> None:
    """Before PyG reads ``folder`` (a ``processed/`` folder): accept it only with a matching seal. Unsealed or
    changed: removed when ``ours`` (graphlearn's cache; PyG rebuilds it from the verified raw files), else refused."""
    folder = Path(folder)
    if not folder.is_dir() or not any(p.is_file() for p in folder.iterdir()):
        return
    seal = folder / SEAL
    try:
        sealed = json.loads(seal.read_text()) if seal.is_file() else None
    except (OSError, json.JSONDecodeError):
        sealed = None
    if sealed == _contents(folder):
        return
    if ours:
        shutil.rmtree(folder)
        return
    why = "was not written by graphlearn (no seal)" if sealed is None else "changed since graphlearn wrote it"
    raise UntrustedFileError(
        f"{folder} {why}; PyG would unpickle its files, so it is refused: delete the folder and graphlearn rebuilds "
        "it from the verified raw files"
    )


def seal_processed(folder: str | os.PathLike) -> None:
    """Record the hash of every file of ``folder`` (right after PyG wrote it from verified raw files)."""
    folder = Path(folder)
    if folder.is_dir():
        from graphlearn.io import atomic_write_text  # noqa: PLC0415

        atomic_write_text(folder / SEAL, json.dumps(_contents(folder), indent=1) + "\n")
