"""The bad-input battery (issue 12): every command given inputs a new user gets wrong, each outcome classified.

    python benchmarks/bad_inputs.py                 # every case; table + counts; writes results/bad_inputs.{md,json}
    python benchmarks/bad_inputs.py -k neighbors    # the cases whose id contains 'neighbors' (no results written)
    python benchmarks/bad_inputs.py --spawn         # each case as `python -m pipelines.cli ...` (slower, ~10 s each)

Each case is one ``graphlearn <command> ...`` command line, run in a process of its own with a temporary working
directory (its own ``./mlruns``) holding the files the case writes first. By default each process is forked from
this one after the pipelines are imported (a fresh process that skips 5-10 s of imports; nothing of the CLI has run
in the parent); ``--spawn`` starts ``python -m pipelines.cli`` instead. The outcome is classified:

* ``clear``: exit code 2, no traceback, the last line of stderr is ``graphlearn <command>: error: ...`` and it
  contains every substring the case names (the offending value or file);
* ``handled``: exit code 0 where the documented behaviour is to carry on (a warning names the problem);
* ``vague``: exit code 2 with one line that misses the value;
* ``traceback``: a Python traceback on stderr;
* ``silent``: exit code 0 where the command should have failed;
* ``other``: any other exit (a crash, a timeout).

The cases that need a Cold Brew run (export, update, serve, neighbors) use one small fixture built once and cached
under ``$GRAPHLEARN_CACHE/bad_inputs`` (``coldbrew --dataset synthetic:200 --runs 1`` with a few epochs, then
``export``): its store is shared read-mostly through ``MLFLOW_TRACKING_URI``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks._common import hardware, now, write_results  # noqa: E402

OUTCOMES = ("clear", "handled", "vague", "traceback", "silent", "other")
FIXTURE_VERSION = 1
TIMEOUT_S = 120


@dataclass
class Case:
    """One bad input: ``graphlearn <cmd> <argv>`` after writing ``files`` into the case's folder.

    ``argv`` may hold ``{d}`` (the case's folder) and the fixture's ``{run}``, ``{failed}``, ``{uri}``, ``{name}``,
    ``{export}``, ``{fx}``. ``names``: substrings the error line must contain (the offending value or file); for a
    ``handled`` case, substrings its stderr must contain (the warning). ``store``: uses the fixture's MLflow store.
    """

    id: str
    cmd: str
    argv: list[str]
    names: list[str]
    expect: str = "clear"
    files: dict = field(default_factory=dict)
    store: bool = False
    cwd: str | None = None  # run in this folder instead of the case's own
    note: str = ""
    env: dict = field(default_factory=dict)  # extra environment (e.g. a torchrun rank's RANK / WORLD_SIZE)


# ---------------------------------------------------------------------------------------------------------- files


def npz(**arrays) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def pickled_object_npz(key: str = "features", **others) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, **{key: np.array([{"a": 1}, {"b": 2}], dtype=object)}, **others)
    return buf.getvalue()


class _Payload:
    """A pickle that would create a file if unpickled (harmless proof of code execution)."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def malicious_pickle(target: str) -> bytes:
    return pickle.dumps(_Payload(target))


NODES = "id,label,f0,f1\n" + "".join(f"{i},{i % 2},{i * 0.1:.1f},{1 - i * 0.05:.2f}\n" for i in range(20))
EDGES = "src,dst\n" + "".join(f"{i},{(i + 1) % 20}\n" for i in range(20)) + "0,10\n3,15\n"
GRDA_TABLE = "domain,label,f0,f1\n" + "".join(
    f"{d},{(i + d) % 2},{i * 0.3:.1f},{d * 0.5 + i:.1f}\n" for d in range(4) for i in range(6)
)
GRDA_GRAPH = "source,target\n0,1\n1,2\n2,3\n"


def _torch_save(path: Path, how: str) -> None:
    import torch

    if how == "nan":
        torch.save(torch.full((200, 4), float("nan")), path)
    elif how == "dict":
        torch.save({"x": torch.ones(200, 4)}, path)
    else:
        torch.save({"features": torch.ones(150, 4)}, path)


def bytes_ids_parquet(path: Path) -> None:
    import pandas as pd

    pd.DataFrame({"id": [b"a", b"b", b"c"], "label": [0, 1, 0], "f0": [0.1, 0.2, 0.3]}).to_parquet(path)


# ---------------------------------------------------------------------------------------------------------- cases


def cases() -> list[Case]:
    C = Case
    syn = ["--dataset", "synthetic:200", "--no-progress"]
    tiny = ["--epochs", "2"]
    cb_tiny = ["--runs", "1", "--no-sage", "--set", "epochs=2", "--set", "retrieval_steps=1"]
    out: list[Case] = []
    add = out.append

    # ----------------------------------------------------------------------------------------------- the CLI itself
    add(C("cli-unknown-command", "", ["nosuch"], ["nosuch"]))
    # ---------------------------------------------------------------------------------------------------- datasets
    add(C("datasets-unknown-flag", "datasets", ["--bogus"], ["--bogus"]))
    add(C("datasets-root-is-file", "datasets", ["--data-root", "{d}/root.txt"], ["root.txt"], files={"root.txt": b"x"}))
    add(
        C(
            "datasets-root-missing",
            "datasets",
            ["--data-root", "{d}/nosuch"],
            [],
            expect="handled",
            note="lists every dataset as absent",
        )
    )
    # ------------------------------------------------------------------------------------------------ train: counts
    for flag, value in [
        ("--runs", "0"),
        ("--runs", "-1"),
        ("--runs", "abc"),
        ("--threads", "-2"),
        ("--threads", "0"),
        ("--seed", "abc"),
        ("--split", "x"),
        ("--epochs", "x"),
    ]:
        add(C(f"train{flag}={value}", "train", [*syn, flag, value], [flag, value]))
    for flag, value in [
        ("--epochs", "0"),
        ("--epochs", "-3"),
        ("--hidden", "0"),
        ("--layers", "0"),
        ("--dropout", "1.5"),
        ("--dropout", "-0.1"),
        ("--lr", "-1"),
        ("--lr", "0"),
        ("--weight-decay", "-1"),
        ("--patience", "0"),
        ("--lr", "nan"),
    ]:
        add(C(f"train{flag}={value}", "train", [*syn, flag, value], [flag, value]))
    add(C("train-protocol-unknown", "train", [*syn, "--protocol", "bogus"], ["bogus"]))
    add(C("train-feature-norm-unknown", "train", [*syn, "--feature-norm", "l2"], ["l2"]))
    add(C("train-unknown-flag", "train", [*syn, "--bogus", "1"], ["--bogus"]))
    add(C("train-resume-unknown", "train", [*syn, "--epochs", "2", "--resume", "0123abc"], ["0123abc"]))
    add(C("train-resume-not-train", "train", [*syn, "--epochs", "2", "--resume", "{failed}"], ["{failed}"], store=True))
    # ---------------------------------------------------------------------------------------------- train: datasets
    add(C("train-dataset-unknown", "train", ["--dataset", "nosuch"], ["nosuch"]))
    add(C("train-dataset-typo", "train", ["--dataset", "Kora"], ["Kora"]))
    for spec in ["synthetic:many", "synthetic:0", "synthetic:-5", "synthetic:1", "synthetic:inf", "synthetic:"]:
        add(C(f"train-{spec}", "train", ["--dataset", spec, *tiny], [spec]))
    # ---------------------------------------------------------------------------- under torchrun (distributed)
    rank0 = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29599"}
    add(C("adapt-torchrun", "adapt", ["--seeds", "1"], ["torchrun"], env=rank0))  # coldbrew, train, pretrain run there
    add(C("train-torchrun-no-master", "train", [*syn, "--model", "mlp", *tiny], ["MASTER_ADDR"],
          env={"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}))  # fmt: skip
    # (a graph model or more ranks than training nodes: refused once the ranks meet; tests/test_distributed.py)
    # a folder in OGB's layout, broken
    add(C("train-dataset-folder-empty", "train", ["--dataset", "{d}/g", *tiny], ["g", "raw/edge.csv.gz"],
          files={"g/notes.txt": b"x"}))  # fmt: skip
    gz = gzip.compress(b"0\n1\n")
    two_splits = {f"g/{f}": gz for f in ("raw/edge.csv.gz", "raw/node-label.csv.gz", "RELEASE_v1.txt")}
    two_splits |= {f"g/split/{s}/{p}.csv.gz": gz for s in ("a", "b") for p in ("train", "valid", "test")}
    add(C("train-dataset-folder-two-splits", "train", ["--dataset", "{d}/g", *tiny], ["g", "['a', 'b']"],
          files=two_splits))  # fmt: skip
    add(C("train-cora-split-99", "train", ["--dataset", "cora", "--split", "99", *tiny], ["99"]))
    add(C("train-data-root-missing", "train", ["--dataset", "cora", "--data-root", "{d}/nosuch", *tiny], ["nosuch"]))
    add(
        C(
            "train-data-root-is-file",
            "train",
            ["--dataset", "cora", "--data-root", "{d}/r.txt", *tiny],
            ["r.txt"],
            files={"r.txt": b"x"},
        )
    )
    # ------------------------------------------------------------------------------------------------ train: models
    add(C("train-model-unknown", "train", [*syn, "--model", "gcn,transformer"], ["transformer"]))
    add(C("train-model-empty", "train", [*syn, "--model", ","], ["','"]))
    add(
        C(
            "train-model-case",
            "train",
            [*syn, "--model", "GCN", *tiny],
            [],
            expect="handled",
            note="model names are case-insensitive",
        )
    )
    # ------------------------------------------------------------------------------------------ train: --features
    feat = ["train", [*syn, *tiny, "--features"]]
    fcases = {
        "empty-npz": ({"f.npz": b""}, ["f.npz", "empty"]),
        "random-bytes": ({"f.npz": bytes(range(256)) * 8}, ["f.npz", "zip"]),
        "truncated-npz": ({"f.npz": npz(features=np.ones((200, 4), np.float32))[:300]}, ["f.npz"]),
        "all-nan": ({"f.npz": npz(features=np.full((200, 4), np.nan, np.float32))}, ["f.npz", "nan"]),
        "one-inf": (
            {"f.npz": npz(features=np.where(np.eye(200, 4) > 0, np.inf, 0).astype(np.float32))},
            ["f.npz", "inf"],
        ),
        "float64-overflow": ({"f.npz": npz(features=np.full((200, 4), 1e300))}, ["f.npz", "1e+300"]),
        "strings": ({"f.npz": npz(features=np.array([["a", "b"]] * 200))}, ["f.npz", "<U1"]),
        "object-pickle": ({"f.npz": pickled_object_npz()}, ["f.npz"]),
        "bad-meta": (
            {"f.npz": npz(features=np.ones((200, 4), np.float32), meta_json=np.array("{not json"))},
            ["f.npz", "JSON"],
        ),
        "meta-list": ({"f.npz": npz(features=np.ones((200, 4), np.float32), meta_json=np.array("[1]"))}, ["f.npz"]),
        "meta-shape": (
            {"f.npz": npz(features=np.ones((200, 4), np.float32), meta_json=np.array('{"dim": 5}'))},
            ["f.npz", "dim=5"],
        ),
        "no-features-key": ({"f.npz": npz(x=np.ones((200, 4), np.float32))}, ["f.npz", "'x'"]),
        "one-d": ({"f.npz": npz(features=np.ones(200, np.float32))}, ["f.npz", "(200,)"]),
        "wrong-rows": ({"f.npz": npz(features=np.ones((150, 4), np.float32))}, ["f.npz", "150", "200"]),
        "zero-width": ({"f.npz": npz(features=np.ones((200, 0), np.float32))}, ["f.npz", "(200, 0)"]),
        "single-npy": (
            {
                "f.npz": b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
                + b" " * 58
                + b"\n"
                + b"\x00" * 8
            },
            ["f.npz", ".npy"],
        ),
        "pt-file": ({"f.pt": b"PK\x03\x04" + b"\x00" * 64}, ["f.pt"]),
        "pt-tensor-nan": ({"f.pt": lambda p: _torch_save(p, "nan")}, ["f.pt", "nan"]),
        "pt-dict-without-features": ({"f.pt": lambda p: _torch_save(p, "dict")}, ["f.pt", "'features'"]),
        "pt-wrong-rows": ({"f.pt": lambda p: _torch_save(p, "rows")}, ["f.pt", "150"]),
        "csv-file": ({"f.csv": b"a,b\n1,2\n"}, ["f.csv", "zip"]),
    }
    for key, (files, names) in fcases.items():
        fname = next(iter(files))
        add(C(f"train-features-{key}", feat[0], [*feat[1], "{d}/" + fname], names, files=files))
    add(C("train-features-missing", "train", [*syn, "--features", "{d}/nosuch.npz"], ["nosuch.npz"]))
    add(
        C(
            "train-features-dir-without-file",
            "train",
            [*syn, "--features", "{d}/sub"],
            ["sub"],
            files={"sub/readme.txt": b"x"},
        )
    )
    add(C("train-features-pretrained-no-id", "train", [*syn, "--features", "pretrained:"], ["pretrained:"]))
    add(C("train-features-pretrained-unknown", "train", [*syn, "--features", "pretrained:0123abc"], ["0123abc"]))
    add(
        C(
            "train-features-of-failed-run",
            "train",
            [*syn, "--features", "pretrained:{failed}"],
            ["{failed}", "FAILED"],
            store=True,
            note="a pretraining run killed before it logged its features",
        )
    )
    # -------------------------------------------------------------------------------------------- train: user data
    user = lambda e, n: ["--dataset", f"user:{{d}}/{e}:{{d}}/{n}", *tiny, "--no-progress"]  # noqa: E731
    add(C("user-spec-one-file", "train", ["--dataset", "user:only-one.csv"], ["user:<edges file>:<nodes file>"]))
    add(C("user-edges-missing", "train", user("nosuch.csv", "n.csv"), ["nosuch.csv"], files={"n.csv": NODES}))
    add(
        C(
            "user-no-edges",
            "train",
            user("e.csv", "n.csv"),
            ["e.csv", "no edges"],
            files={"e.csv": "src,dst\n", "n.csv": NODES},
        )
    )
    add(
        C(
            "user-no-label-column",
            "train",
            user("e.csv", "n.csv"),
            ["n.csv", "label"],
            files={"e.csv": EDGES, "n.csv": NODES.replace("id,label,", "id,lab,")},
        )
    )
    add(
        C(
            "user-all-labels-missing",
            "train",
            user("e.csv", "n.csv"),
            ["n.csv", "label"],
            files={"e.csv": EDGES, "n.csv": "id,label,f0\n" + "".join(f"{i},,{i}\n" for i in range(20))},
        )
    )
    add(
        C(
            "user-nan-label",
            "train",
            user("e.csv", "n.csv"),
            [],
            expect="handled",
            files={"e.csv": EDGES, "n.csv": NODES.replace("\n3,1,", "\n3,,")},
            note="an empty label cell is an unlabelled node (docs/bad_inputs.md)",
        )
    )
    add(
        C(
            "user-table-is-directory",
            "train",
            user("e.csv", "ndir"),
            ["ndir", "folder"],
            files={"e.csv": EDGES, "ndir/x.txt": b"x"},
        )
    )
    add(
        C(
            "user-edges-is-directory",
            "train",
            user("edir", "n.csv"),
            ["edir", "folder"],
            files={"edir/x.txt": b"x", "n.csv": NODES},
        )
    )
    add(
        C(
            "user-bytes-ids",
            "train",
            user("e.csv", "n.parquet"),
            ["n.parquet", "id"],
            files={"e.csv": "src,dst\na,b\n", "n.parquet": bytes_ids_parquet},
        )
    )
    add(
        C(
            "user-unknown-edge-id",
            "train",
            user("e.csv", "n.csv"),
            ["e.csv", "99"],
            files={"e.csv": EDGES + "0,99\n", "n.csv": NODES},
        )
    )
    add(
        C(
            "user-duplicate-node-id",
            "train",
            user("e.csv", "n.csv"),
            ["n.csv", "duplicate"],
            files={"e.csv": EDGES, "n.csv": NODES + "3,1,0.5,0.5\n"},
        )
    )
    add(
        C(
            "user-nan-feature",
            "train",
            user("e.csv", "n.csv"),
            ["n.csv", "nan"],
            files={"e.csv": EDGES, "n.csv": NODES.replace("\n4,0,0.4,", "\n4,0,nan,")},
        )
    )
    add(
        C(
            "user-text-feature",
            "train",
            user("e.csv", "n.csv"),
            ["n.csv", "abc"],
            files={"e.csv": EDGES, "n.csv": NODES.replace("\n4,0,0.4,", "\n4,0,abc,")},
        )
    )
    add(
        C(
            "user-not-utf8",
            "train",
            user("e.csv", "n.csv"),
            ["n.csv", "UTF-8"],
            files={"e.csv": EDGES, "n.csv": NODES.encode() + "\n99,1,\xeb,1\n".encode("latin-1")},
        )
    )
    add(C("user-unknown-suffix", "train", user("e.csv", "n.xlsx"), ["n.xlsx"], files={"e.csv": EDGES, "n.xlsx": b"x"}))
    add(
        C(
            "user-label-fraction",
            "train",
            user("e.csv", "n.csv"),
            ["n.csv", "1.5"],
            files={"e.csv": EDGES, "n.csv": NODES.replace("\n5,1,", "\n5,1.5,")},
        )
    )
    # ------------------------------------------------------------------------------------------ train: tracking
    add(C("train-tracking-foo", "train", [*syn, "--tracking-uri", "foo://bar"], ["foo://bar"]))
    add(C("train-tracking-file", "train", [*syn, "--tracking-uri", "file:/tmp/x"], ["file:/tmp/x"]))
    add(C("train-tracking-down", "train", [*syn, "--tracking-uri", "http://127.0.0.1:9/"], ["http://127.0.0.1:9/"]))
    add(C("train-out-is-file", "train", [*syn, *tiny, "--out", "{d}/out.txt"], ["out.txt"], files={"out.txt": b"x"}))
    add(C("train-out-unwritable", "train", [*syn, *tiny, "--out", "/proc/graphlearn-out"], ["/proc/graphlearn-out"]))
    add(
        C(
            "train-cwd-unwritable",
            "train",
            [*syn, *tiny],
            ["/proc/mlruns", "--tracking-uri"],
            cwd="/proc",
            note="no --tracking-uri: the default store ./mlruns cannot be created",
        )
    )
    # ---------------------------------------------------------------------------------------------------- coldbrew
    sets = {
        "epochs-string": ('epochs="many"', ["epochs", "many"]),
        "unknown-key": ("kk=3", ["kk"]),
        "k-zero": ("k=0", ["k", "0"]),
        "k-text": ("k=many", ["k", "many"]),
        "no-equals": ("k", ["'k'"]),
        "temperature-negative": ("temperature=-1", ["temperature", "-1"]),
        "student-teacher": ("student_teacher=best", ["best"]),
        "conv-unknown": ("conv=gat", ["gat"]),
        "models-unknown": ('models=["GNN","Nope"]', ["Nope"]),
        "models-not-list": ("models=3", ["models", "3"]),
        "se-layers-bad": ("se_layers=[7]", ["se_layers", "7"]),
        "dropout-range": ("student_dropout=2", ["student_dropout", "2"]),
        "patience-zero": ("patience=0", ["patience", "0"]),
        "epochs-zero": ("epochs=0", ["epochs", "0"]),
        "metric-unknown": ("metric=manhattan", ["manhattan"]),
        "nan-lr": ("student_lr=nan", ["student_lr", "nan"]),
    }
    for key, (setting, names) in sets.items():
        add(C(f"coldbrew-set-{key}", "coldbrew", [*syn, "--runs", "1", "--set", setting], names))
    add(
        C(
            "coldbrew-teacher-missing",
            "coldbrew",
            [*syn, "--set", "student_teacher=GNN+SE", "--set", 'models=["GNN","ColdBrew"]'],
            ["GNN+SE"],
        )
    )
    add(C("coldbrew-protocols-unknown", "coldbrew", [*syn, "--protocols", "coldstart,bogus"], ["bogus"]))
    add(C("coldbrew-retrieval-dim-negative", "coldbrew", [*syn, "--retrieval-dim", "-1"], ["retrieval_dim", "-1"]))
    add(C("coldbrew-runs-zero", "coldbrew", [*syn, "--runs", "0"], ["--runs", "0"]))
    add(C("coldbrew-split-seed-text", "coldbrew", [*syn, "--split-seed", "x"], ["--split-seed", "x"]))
    add(C("coldbrew-resume-unknown", "coldbrew", [*syn, *cb_tiny, "--resume", "0123abc"], ["0123abc"]))
    add(
        C(
            "coldbrew-resume-not-coldbrew",
            "coldbrew",
            [*syn, *cb_tiny, "--resume", "{failed}"],
            ["{failed}"],
            store=True,
        )
    )
    add(
        C(
            "coldbrew-features-all-nan",
            "coldbrew",
            [*syn, *cb_tiny, "--features", "{d}/f.npz"],
            ["f.npz", "nan"],
            files={"f.npz": npz(features=np.full((200, 4), np.nan, np.float32))},
        )
    )
    # ---------------------------------------------------------------------------------------------------- pretrain
    for key, (setting, names) in {
        "epochs-zero": ("epochs=0", ["epochs", "0"]),
        "epochs-negative": ("epochs=-1", ["epochs", "-1"]),
        "epochs-list-zeros": ("epochs=[0,0]", ["epochs", "[0, 0]"]),
        "loss-unknown": ("loss=mse", ["mse"]),
        "branching-one": ("branching=1", ["branching", "1"]),
        "unknown-key": ("nosuch=1", ["nosuch"]),
        "negatives-unknown": ("negatives=all", ["all"]),
    }.items():
        add(C(f"pretrain-set-{key}", "pretrain", [*syn, "--set", setting], names))
    add(C("pretrain-holdout-unknown", "pretrain", [*syn, "--holdout", "some"], ["some"]))
    add(C("pretrain-dataset-unknown", "pretrain", ["--dataset", "nosuch"], ["nosuch"]))
    add(
        C(
            "pretrain-features-empty",
            "pretrain",
            [*syn, "--set", "epochs=1", "--features", "{d}/f.npz"],
            ["f.npz", "empty"],
            files={"f.npz": b""},
        )
    )
    # ------------------------------------------------------------------------------------------------------- adapt
    add(C("adapt-seeds-zero", "adapt", ["--seeds", "0"], ["--seeds", "0"]))
    add(C("adapt-dataset-typo", "adapt", ["--dataset", "tpt48ew"], ["tpt48ew"]))
    add(C("adapt-models-unknown", "adapt", ["--models", "grda,nope"], ["nope"]))
    add(C("adapt-set-init-disc", "adapt", ["--set", "init_disc=maybe"], ["init_disc", "maybe"]))
    add(C("adapt-set-unknown", "adapt", ["--set", "nosuch=1"], ["nosuch"]))
    add(C("adapt-epochs-zero", "adapt", ["--epochs", "0"], ["epochs", "0"]))
    add(C("adapt-task-unknown", "adapt", ["--task", "ranking"], ["ranking"]))
    add(C("adapt-embedding-unknown", "adapt", ["--embedding", "pca"], ["pca"]))
    ua = lambda t, g, *extra: [
        "--dataset",
        f"{{d}}/{t}",
        "--domain-graph",
        f"{{d}}/{g}",
        "--source-domains",  # noqa: E731
        "0,1",
        "--epochs",
        "1",
        "--runs",
        "1",
        "--no-progress",
        *extra,
    ]
    add(
        C(
            "adapt-user-no-graph",
            "adapt",
            ["--dataset", "{d}/t.csv"],
            ["t.csv", "--domain-graph"],
            files={"t.csv": GRDA_TABLE},
        )
    )
    add(
        C(
            "adapt-domain-graph-is-dir",
            "adapt",
            ua("t.csv", "gdir"),
            ["gdir", "folder"],
            files={"t.csv": GRDA_TABLE, "gdir/x.txt": b"x"},
        )
    )
    add(
        C("adapt-domain-graph-missing", "adapt", ua("t.csv", "nosuch.csv"), ["nosuch.csv"], files={"t.csv": GRDA_TABLE})
    )
    add(
        C(
            "adapt-table-is-dir",
            "adapt",
            ua("tdir.csv", "g.csv"),
            ["tdir.csv", "folder"],
            files={"tdir.csv/x.txt": b"x", "g.csv": GRDA_GRAPH},
        )
    )
    add(
        C(
            "adapt-user-nan-label",
            "adapt",
            ua("t.csv", "g.csv"),
            ["t.csv", "label"],
            files={"t.csv": GRDA_TABLE.replace("\n0,0,", "\n0,,", 1), "g.csv": GRDA_GRAPH},
            note="a NaN label used to turn the task into regression",
        )
    )
    add(
        C(
            "adapt-user-inf-feature",
            "adapt",
            ua("t.csv", "g.csv"),
            ["t.csv", "row 1", "inf"],
            files={"t.csv": GRDA_TABLE.replace("\n0,1,0.3,", "\n0,1,inf,", 1), "g.csv": GRDA_GRAPH},
        )
    )
    add(
        C(
            "adapt-user-text-feature",
            "adapt",
            ua("t.csv", "g.csv"),
            ["t.csv", "f0"],
            files={"t.csv": GRDA_TABLE.replace("\n0,1,0.3,", "\n0,1,abc,", 1), "g.csv": GRDA_GRAPH},
        )
    )
    add(
        C(
            "adapt-user-unknown-source",
            "adapt",
            [*ua("t.csv", "g.csv")[:-6], "7", "--epochs", "1", "--runs", "1"],
            ["'7'"],
            files={"t.csv": GRDA_TABLE, "g.csv": GRDA_GRAPH},
        )
    )
    add(
        C(
            "adapt-user-domain-not-in-graph",
            "adapt",
            ua("t.csv", "g.csv"),
            ["t.csv", "'3'"],
            files={"t.csv": GRDA_TABLE, "g.csv": "source,target\n0,1\n1,2\n"},
        )
    )
    add(
        C(
            "adapt-user-object-npz",
            "adapt",
            ua("t.npz", "g.csv"),
            ["t.npz", "pickled"],
            files={"t.npz": pickled_object_npz("x", y=np.zeros(2), domain=np.zeros(2)), "g.csv": GRDA_GRAPH},
        )
    )
    add(
        C(
            "adapt-user-unknown-suffix",
            "adapt",
            ua("t.json", "g.csv"),
            ["t.json"],
            files={"t.json": b"{}", "g.csv": GRDA_GRAPH},
        )
    )
    add(
        C(
            "adapt-malicious-pickle",
            "adapt",
            ["--dataset", "dg15", "--data-root", "{d}/root", "--epochs", "1"],
            ["toy_d15_spiral_tight_boundary.pkl"],
            files={
                "root/grda/toy_d15_spiral_tight_boundary.pkl": lambda p: p.write_bytes(
                    malicious_pickle(str(p.parent / "PWNED"))
                ),
                "root/grda/g_encode_15.pkl": lambda p: p.write_bytes(pickle.dumps({"a": 1})),
            },
        )
    )
    add(
        C(
            "adapt-grda-missing-files",
            "adapt",
            ["--dataset", "dg15", "--data-root", "{d}/empty", "--epochs", "1"],
            ["toy_d15_spiral_tight_boundary.pkl"],
            files={"empty/x.txt": b""},
        )
    )
    # ------------------------------------------------------------------------------------------------------ export
    ex = ["--no-progress", "--no-register"]
    add(C("export-run-missing", "export", [], ["--run"]))
    add(C("export-run-unknown", "export", ["--run", "0123abc", *ex], ["0123abc"], store=True))
    add(C("export-run-not-coldbrew", "export", ["--run", "{failed}", *ex], ["{failed}"], store=True))
    add(C("export-run-latest-empty-store", "export", ["--run", "latest", *ex], ["latest"]))
    add(C("export-model-unknown", "export", ["--run", "{run}", "--model", "gat", *ex], ["gat"], store=True))
    add(C("export-space-unknown", "export", ["--run", "{run}", "--space", "pca", *ex], ["pca"], store=True))
    add(C("export-index-unknown", "export", ["--run", "{run}", "--index", "annoy", *ex], ["annoy"], store=True))
    add(
        C(
            "export-chunk-zero",
            "export",
            ["--run", "{run}", "--chunk-size", "0", *ex],
            ["--chunk-size", "0"],
            store=True,
        )
    )
    add(
        C(
            "export-out-is-file",
            "export",
            ["--run", "{run}", "--out", "{d}/out.txt", *ex],
            ["out.txt"],
            files={"out.txt": b"x"},
            store=True,
        )
    )
    add(
        C(
            "export-out-unwritable",
            "export",
            ["--run", "{run}", "--out", "/proc/graphlearn-out", *ex],
            ["/proc/graphlearn-out"],
            store=True,
        )
    )
    add(
        C(
            "export-space-retrieval-for-glnn",
            "export",
            ["--run", "{run}", "--model", "glnn", "--space", "retrieval", *ex],
            ["--space", "glnn"],
            store=True,
        )
    )
    add(
        C(
            "export-alias-reserved",
            "export",
            [
                "--run",
                "{run}",
                "--no-progress",
                "--out",
                "{d}/o",
                "--alias",
                "latest",
                "--name",
                "graphlearn-battery-alias",
            ],
            ["latest"],
            store=True,
        )
    )
    add(
        C(
            "export-alias-version-like",
            "export",
            [
                "--run",
                "{run}",
                "--no-progress",
                "--out",
                "{d}/o",
                "--alias",
                "v3",
                "--name",
                "graphlearn-battery-alias",
            ],
            ["v3"],
            store=True,
        )
    )
    add(
        C(
            "export-name-invalid",
            "export",
            ["--run", "{run}", "--no-progress", "--out", "{d}/o", "--name", "a/b:c"],
            ["a/b:c"],
            store=True,
        )
    )
    add(C("export-tracking-foo", "export", ["--run", "{run}", "--tracking-uri", "foo://bar", *ex], ["foo://bar"]))
    # ------------------------------------------------------------------------------------------------------ update
    add(C("update-from-not-models", "update", ["--from", "runs:/abc/model"], ["runs:/abc/model"]))
    add(C("update-from-empty-name", "update", ["--from", "models:/"], ["models:/"], store=True))
    add(C("update-from-unknown-name", "update", ["--from", "models:/nosuch@champion"], ["nosuch"], store=True))
    add(C("update-from-unknown-version", "update", ["--from", "models:/{name}/99"], ["99"], store=True))
    add(C("update-from-unknown-alias", "update", ["--from", "models:/{name}@nosuch"], ["nosuch"], store=True))
    add(C("update-k-zero", "update", ["--from", "{uri}", "--k", "0"], ["--k", "0"]))
    add(C("update-threads-negative", "update", ["--from", "{uri}", "--threads", "-2"], ["--threads", "-2"]))
    add(
        C(
            "update-out-is-file",
            "update",
            ["--from", "{uri}", "--out", "{d}/o.txt", "--no-progress"],
            ["o.txt"],
            files={"o.txt": b"x"},
            store=True,
        )
    )
    # ------------------------------------------------------------------------------------------------------- serve
    add(C("serve-model-missing", "serve", [], ["--model"]))
    add(C("serve-port-negative", "serve", ["--model", "{uri}", "--port", "-1"], ["--port", "-1"]))
    add(C("serve-port-too-large", "serve", ["--model", "{uri}", "--port", "99999"], ["--port", "99999"]))
    add(C("serve-port-text", "serve", ["--model", "{uri}", "--port", "http"], ["--port", "http"]))
    add(C("serve-workers-zero", "serve", ["--model", "{uri}", "--workers", "0"], ["--workers", "0"]))
    add(C("serve-model-unknown-name", "serve", ["--model", "models:/nosuch@champion"], ["nosuch"], store=True))
    add(C("serve-model-unknown-version", "serve", ["--model", "models:/{name}/99"], ["99"], store=True))
    add(C("serve-model-bad-scheme", "serve", ["--model", "foo://bar"], ["foo://bar"], store=True))
    add(C("serve-model-missing-path", "serve", ["--model", "{d}/nosuch"], ["nosuch"], store=True))
    add(C("serve-tracking-file", "serve", ["--model", "{uri}", "--tracking-uri", "file:/tmp/x"], ["file:/tmp/x"]))
    # --------------------------------------------------------------------------------------------------- neighbors
    nb = lambda csv="{d}/q.csv", *extra: ["--model", "{export}", "--features", csv, *extra]  # noqa: E731

    def q(rows: list, header: str | None = None) -> dict:
        """A query CSV written when the case runs (the feature width is the fixture's): ``rows`` are strings or
        ``(id, {column: value})`` pairs, the other columns 0.1."""

        def write(p: Path) -> None:
            w = _fixture["width"]
            lines = [header or "id," + ",".join(f"f{i}" for i in range(w))]
            for r in rows:
                if isinstance(r, str):
                    lines.append(r)
                else:
                    i, at = r
                    lines.append(",".join([str(i), *(str(at.get(j, "0.1")) for j in range(w))]))
            p.write_text("\n".join(lines) + "\n")

        return {"q.csv": write}

    def row(i, at=None) -> tuple:
        return (i, at or {})

    def W(value, col=0) -> dict:  # noqa: N802
        return {col: value}

    add(
        C(
            "neighbors-model-missing-folder",
            "neighbors",
            ["--model", "{d}/nosuch", "--features", "{d}/q.csv"],
            ["nosuch"],
            files=q([row(1)]),
        )
    )
    add(
        C(
            "neighbors-model-not-export",
            "neighbors",
            ["--model", "{d}/edir", "--features", "{d}/q.csv"],
            ["edir"],
            files={**q([row(1)]), "edir/x.txt": b"x"},
        )
    )
    add(
        C(
            "neighbors-model-unknown-name",
            "neighbors",
            ["--model", "models:/nosuch@champion", "--features", "{d}/q.csv"],
            ["nosuch"],
            files=q([row(1)]),
            store=True,
        )
    )
    add(C("neighbors-features-missing", "neighbors", nb("{d}/nosuch.csv"), ["nosuch.csv"]))
    add(C("neighbors-features-dir", "neighbors", nb("{d}/qdir"), ["qdir"], files={"qdir/x.txt": b"x"}))
    add(C("neighbors-features-empty", "neighbors", nb(), ["q.csv"], files={"q.csv": b""}))
    add(C("neighbors-features-header-only", "neighbors", nb(), ["q.csv", "no rows"], files=q([])))
    add(C("neighbors-features-id-only", "neighbors", nb(), ["q.csv"], files={"q.csv": "id\n1\n2\n"}))
    add(C("neighbors-features-binary", "neighbors", nb(), ["q.csv"], files={"q.csv": bytes(range(256)) * 4}))
    add(C("neighbors-features-nan", "neighbors", nb(), ["q.csv", "nan"], files=q([row(1, W("nan", 2))])))
    add(C("neighbors-features-empty-cell", "neighbors", nb(), ["q.csv", "row 0"], files=q([row(1, W("", 1))])))
    add(C("neighbors-features-inf", "neighbors", nb(), ["q.csv", "inf"], files=q([row(1), row(2, W("inf", 3))])))
    add(C("neighbors-features-text", "neighbors", nb(), ["q.csv", "abc"], files=q([row(1, W("abc", 0))])))
    add(C("neighbors-features-narrow", "neighbors", nb(), ["3"], files=q(["1,0.1,0.2,0.3"], header="id,a,b,c")))
    add(
        C(
            "neighbors-features-wide",
            "neighbors",
            nb(),
            ["{wide}", "{width}"],
            files={
                "q.csv": lambda p: p.write_text(
                    "id,"
                    + ",".join(f"f{i}" for i in range(_fixture["width"] + 2))
                    + "\n1,"
                    + ",".join(["0.1"] * (_fixture["width"] + 2))
                    + "\n"
                )
            },
        )
    )
    add(C("neighbors-ids-duplicated", "neighbors", nb(), ["q.csv", "duplicate", "7"], files=q([row(7), row(7)])))
    add(C("neighbors-ids-text", "neighbors", nb(), ["q.csv", "abc"], files=q([row("abc")])))
    add(C("neighbors-ids-fraction", "neighbors", nb(), ["q.csv", "id 1.5"], files=q([row("1.5")])))
    add(
        C("neighbors-id-column-unknown", "neighbors", nb("{d}/q.csv", "--id-column", "key"), ["key"], files=q([row(1)]))
    )
    add(C("neighbors-k-zero", "neighbors", nb("{d}/q.csv", "--k", "0"), ["--k", "0"], files=q([row(1)])))
    add(
        C(
            "neighbors-k-larger-than-index",
            "neighbors",
            nb("{d}/q.csv", "--k", "1000"),
            ["1000", "200"],
            files=q([row(1)]),
        )
    )
    add(
        C(
            "neighbors-threads-negative",
            "neighbors",
            nb("{d}/q.csv", "--threads", "-2"),
            ["--threads", "-2"],
            files=q([row(1)]),
        )
    )
    # an export folder with one thing changed (_tampered_export): the id, what is changed, what the error must name
    tampered = [
        ("neighbors-tampered-export", "model", ["model.pt"], None),
        ("neighbors-tampered-index", "index", ["index.faiss"], None),
        (
            "neighbors-student-hparams-tampered",
            "hparams",
            ["model.pt"],
            "a student file whose hparams were edited and whose checksum was updated to match",
        ),
        ("neighbors-student-extra-hparam", "extra", ["model.pt", "bogus"], None),
        ("neighbors-student-rows-tampered", "rows", ["model.pt", "201"], None),
        ("neighbors-student-shape-tampered", "shape", ["model.pt"], None),
    ]
    for case_id, how, must, note in tampered:
        add(
            C(
                case_id,
                "neighbors",
                ["--model", "{d}/exp", "--features", "{d}/q.csv"],
                must,
                files={**q([row(1)]), "exp": lambda p, how=how: _tampered_export(p, how)},
                **({"note": note} if note else {}),
            )
        )
    return out


def _tampered_export(folder: Path, how: str) -> None:
    """A copy of the fixture's export folder with one thing changed: the model file's bytes (``model``), the FAISS
    index (``index``), or the student's hparams / one tensor's shape rewritten with a matching checksum."""
    import torch

    shutil.copytree(_fixture["export"], folder)
    if how == "model":
        with open(folder / "model.pt", "r+b") as fh:
            fh.seek(200)
            fh.write(b"\x00" * 64)
        return
    if how == "index":
        (folder / "index.faiss").write_bytes(b"not an index")
        return
    obj = torch.load(folder / "model.pt", weights_only=True)
    hp = obj.get("hparams") if isinstance(obj, dict) else None
    if how == "hparams" and isinstance(hp, dict):
        key = next(k for k, v in hp.items() if isinstance(v, int) and not isinstance(v, bool) and v > 1)
        hp[key] = int(hp[key]) * 2 + 1
    elif how == "extra" and isinstance(hp, dict):
        hp["bogus"] = 3
    elif how == "shape":
        state = obj["state_dict"]
        key = next(k for k, v in state.items() if k.endswith(".weight") and v.dim() == 2)
        state[key] = torch.zeros(state[key].shape[0] + 1, state[key].shape[1])
    elif how == "rows":  # a buffer sized on load: the student loads, but does not belong to this index
        state = obj["state_dict"]
        state["teacher_embeddings"] = torch.zeros(
            state["teacher_embeddings"].shape[0] + 1, state["teacher_embeddings"].shape[1]
        )
    torch.save(obj, folder / "model.pt")
    meta_path = folder / "metadata.json"
    meta = json.loads(meta_path.read_text())
    if "model_sha256" in meta:
        from graphlearn.export.store import sha256

        meta["model_sha256"] = sha256(folder / "model.pt")
        meta_path.write_text(json.dumps(meta, indent=2))


# ---------------------------------------------------------------------------------------------------- classifier

ERROR_LINE = re.compile(r"^graphlearn(?: (?P<cmd>[a-z]+))?: error: (?P<msg>.*)$")


def classify(case: Case, rc: int | None, stderr: str) -> tuple[str, str]:
    """``(outcome, message)`` for a finished case: see the module docstring for the classes. ``rc`` None: timeout."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else ""
    if "Traceback (most recent call last)" in stderr:
        return "traceback", last
    if rc is None:
        return "other", f"timed out; {last}"
    if rc == 0:
        if case.expect == "handled" and all(n in stderr for n in case.names):
            return "handled", _warning(lines) or "(exit 0)"
        return "silent", _warning(lines) or "(exit 0, nothing said)"
    if rc == 2:
        m = ERROR_LINE.match(last)
        if m and (m.group("cmd") or "") == case.cmd and all(n in m.group("msg") for n in case.names):
            return "clear", last
        return "vague", last
    return "other", f"exit code {rc}; {last}"


def _warning(lines: list[str]) -> str:
    warns = [ln for ln in lines if ln.startswith("WARNING")]
    return warns[0] if warns else ""


# --------------------------------------------------------------------------------------------------- the runner

_fixture: dict = {}


def _fill(text: str, d: Path) -> str:
    values = {k: str(v) for k, v in _fixture.items()}
    if "width" in _fixture:
        values["wide"] = str(_fixture["width"] + 2)
    return text.format(d=d, **values)


def _write_files(case: Case, d: Path) -> None:
    for name, content in case.files.items():
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(p)
        else:
            p.write_bytes(content.encode() if isinstance(content, str) else content)


def _env(case: Case) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", GRAPHLEARN_THREADS="1", PYTHONPATH=str(HERE.parent))
    env.pop("MLFLOW_TRACKING_URI", None)
    if case.store:
        env["MLFLOW_TRACKING_URI"] = _fixture["store"]
    env.update(case.env)
    return env


def run_argv(argv: list[str], cwd: Path, env: dict, spawn: bool, timeout: float = TIMEOUT_S) -> tuple:
    """``(exit code or None on timeout, stdout, stderr, seconds)`` of ``graphlearn <argv>`` in ``cwd``."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        if spawn:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pipelines.cli", *argv],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            pid = proc.pid
        else:
            pid = os.fork()
            if pid == 0:  # the child: a fresh process running the CLI once
                code = 1
                try:
                    os.setsid()
                    os.dup2(out.fileno(), 1)
                    os.dup2(err.fileno(), 2)
                    # the streams on fds 1 and 2 (under pytest, sys.stdout/stderr are capture objects)
                    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
                    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
                    os.chdir(cwd)
                    os.environ.clear()
                    os.environ.update(env)
                    sys.argv = ["graphlearn", *argv]
                    from pipelines.cli import main

                    code = main(argv)
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                except BaseException:
                    traceback.print_exc()
                    code = 1
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
        rc = None
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                rc = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.02)
        if rc is None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
        try:  # anything the command started (a server) goes with it
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        out.seek(0)
        err.seek(0)
        return rc, out.read().decode(errors="replace"), err.read().decode(errors="replace"), time.perf_counter() - t0


def run_case(case: Case, base: Path, spawn: bool) -> dict:
    d = base / case.id.replace("/", "_")
    d.mkdir(parents=True)
    _write_files(case, d)
    argv = ([case.cmd] if case.cmd else []) + [_fill(a, d) for a in case.argv]
    if case.cmd in ("train", "coldbrew", "pretrain", "adapt", "export", "update") and "--no-progress" not in argv:
        argv.append("--no-progress")
    rc, _, err, secs = run_argv(argv, Path(case.cwd) if case.cwd else d, _env(case), spawn)
    named = Case(**{**case.__dict__, "names": [_fill(n, d) for n in case.names]})
    outcome, message = classify(named, rc, err)
    shown = " ".join(argv).replace(str(d) + "/", "").replace(str(base), "<tmp>")
    message = message.replace(str(d) + "/", "").replace(str(base), "<tmp>")
    for key in ("fx",):
        if key in _fixture:
            shown, message = shown.replace(_fixture[key], "<fixture>"), message.replace(_fixture[key], "<fixture>")
    return {
        "id": case.id,
        "command": case.cmd or "(none)",
        "argv": shown,
        "expect": case.expect,
        "outcome": outcome,
        "exit_code": rc,
        "message": message,
        "seconds": round(secs, 2),
        "names": case.names,
        "note": case.note,
        "stderr_tail": err.strip().splitlines()[-6:] if outcome in ("traceback", "other") else [],
    }


# -------------------------------------------------------------------------------------------------- the fixture


def build_fixture(root: Path, spawn: bool, rebuild: bool = False) -> dict:
    """One Cold Brew run on synthetic:200 (a few epochs), exported; a FAILED pretraining run; cached in ``root``."""
    info_path = root / "fixture.json"
    if info_path.exists() and not rebuild:
        info = json.loads(info_path.read_text())
        if info.get("version") == FIXTURE_VERSION and Path(info["export"]).is_dir():
            return info
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    store = f"sqlite:///{root}/mlruns/mlflow.db"
    env = dict(
        os.environ, OMP_NUM_THREADS="1", GRAPHLEARN_THREADS="1", PYTHONPATH=str(HERE.parent), MLFLOW_TRACKING_URI=store
    )
    t0 = time.perf_counter()
    argv = [
        "coldbrew",
        "--dataset",
        "synthetic:200",
        "--runs",
        "1",
        "--no-sage",
        "--no-progress",
        "--json",
        "--retrieval-dim",
        "8",
        "--protocols",
        "coldstart",
        "--set",
        "epochs=5",
        "--set",
        "retrieval_steps=5",
        "--set",
        "student_hidden=16",
        "--set",
        "teacher_hidden=16",
        "--set",
        "k=5",
    ]
    rc, out, err, _ = run_argv(argv, root, env, spawn, timeout=600)
    if rc != 0:
        raise SystemExit(f"fixture: graphlearn {' '.join(argv)} failed ({rc}):\n{err[-3000:]}")
    run_id = json.loads(out[out.index("{") :])["run_id"]
    argv = [
        "export",
        "--run",
        run_id,
        "--no-progress",
        "--json",
        "--out",
        str(root / "export"),
        "--name",
        "graphlearn-battery",
    ]
    rc, out, err, _ = run_argv(argv, root, env, spawn, timeout=600)
    if rc != 0:
        raise SystemExit(f"fixture: graphlearn {' '.join(argv)} failed ({rc}):\n{err[-3000:]}")
    exported = json.loads(out[out.index("{") :])
    script = (
        "import mlflow, sys\n"
        "from graphlearn import tracking\n"
        "tracking.configure(sys.argv[1], 'graphlearn')\n"
        "with mlflow.start_run(run_name='pretrain:synthetic:200', tags={'job': 'pretrain'}) as r:\n"
        "    mlflow.log_param('epochs', 5)\n"
        "mlflow.MlflowClient().set_terminated(r.info.run_id, 'FAILED')\n"
        "print(r.info.run_id)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, store], cwd=root, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"fixture: failed run: {proc.stderr[-2000:]}")
    info = {
        "version": FIXTURE_VERSION,
        "fx": str(root),
        "store": store,
        "run": run_id,
        "failed": proc.stdout.strip().splitlines()[-1],
        "uri": exported["model_uri"],
        "name": exported["registered_model"],
        "export": str(root / "export"),
        "width": _feature_width(),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    info_path.write_text(json.dumps(info, indent=2))
    return info


def _feature_width() -> int:
    from graphlearn.data import load_dataset

    return int(load_dataset("synthetic:200").x.shape[1])


# ------------------------------------------------------------------------------------------------------ reports


def counts_of(rows: list[dict]) -> dict:
    return {o: sum(r["outcome"] == o for r in rows) for o in OUTCOMES}


def to_markdown(rows: list[dict], counts: dict, meta: dict) -> str:
    lines = [
        "# Bad-input battery",
        "",
        f"`{meta['command']}` on {meta['machine']}, {meta['date']} ({meta['seconds']:.0f} s, {len(rows)} cases).",
        "",
        "Counts: " + ", ".join(f"{counts[o]} {o}" for o in OUTCOMES) + ".",
        "",
        "| case | command line | outcome | message |",
        "|---|---|---|---|",
    ]
    for r in rows:
        msg = r["message"].replace("|", "\\|")
        argv = r["argv"].replace("|", "\\|")
        lines.append(f"| {r['id']} | `{argv}` | {r['outcome']} | {msg} |")
    return "\n".join(lines) + "\n"


DOCS_START, DOCS_END = "<!-- battery:start -->", "<!-- battery:end -->"


def update_docs(path: Path, rows: list[dict], counts: dict, meta: dict) -> None:
    """Replace the text between the battery markers of ``path`` with the counts and one row per case."""
    text = path.read_text()
    head, sep, rest = text.partition(DOCS_START)
    _, sep2, tail = rest.partition(DOCS_END)
    if not sep or not sep2:
        raise SystemExit(f"{path}: no {DOCS_START} ... {DOCS_END} markers")
    lines = [
        "",
        f"{len(rows)} cases, {meta['date']}, {meta['machine']}: "
        + ", ".join(f"**{counts[o]} {o}**" for o in OUTCOMES)
        + f" ({meta['seconds']:.0f} s). Replay: `{meta['command']}`.",
        "",
        "| case | command line | outcome | message (stderr's last line) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        msg = r["message"].replace("|", "\\|")
        argv = r["argv"].replace("|", "\\|")
        lines.append(f"| {r['id']} | `graphlearn {argv}` | {r['outcome']} | {msg} |")
    path.write_text(head + DOCS_START + "\n".join(lines) + "\n" + DOCS_END + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default=None, help="only the cases whose id contains this text (no results written)")
    parser.add_argument("--spawn", action="store_true", help="start `python -m pipelines.cli` for every case")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached Cold Brew fixture")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--out", default=str(HERE / "results" / "bad_inputs"), help="results stem")
    parser.add_argument(
        "--docs", action="store_true", help="also rewrite the battery's table in docs/bad_inputs.md (full runs only)"
    )
    args = parser.parse_args(argv)
    selected = [c for c in cases() if args.k is None or args.k in c.id]
    if args.list:
        for c in selected:
            print(f"{c.id:<45} graphlearn {c.cmd} {' '.join(c.argv)}")
        return 0
    if not args.spawn:
        from pipelines.cli import build_parser

        build_parser()  # imports every pipeline once; each forked case starts with them loaded
        import mlflow.pyfunc  # noqa: F401

        import graphlearn.export  # noqa: F401
    cache = Path(os.environ.get("GRAPHLEARN_CACHE") or Path(tempfile.gettempdir()) / "graphlearn-cache")
    t0 = time.perf_counter()
    _fixture.update(build_fixture(cache / "bad_inputs" / f"fixture-v{FIXTURE_VERSION}", args.spawn, args.rebuild))
    print(f"fixture: run {_fixture['run']}, {_fixture['uri']} ({time.perf_counter() - t0:.0f} s)", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="graphlearn-bad-inputs-") as tmp:
        for case in selected:
            r = run_case(case, Path(tmp), args.spawn)
            rows.append(r)
            print(f"{r['outcome']:<10}{r['seconds']:>6.1f}s  {case.id:<42} {r['message'][:150]}", flush=True)
            for ln in r["stderr_tail"]:
                print(f"{'':18}| {ln[:200]}")
    counts = counts_of(rows)
    seconds = time.perf_counter() - t0
    print(f"\n{len(rows)} cases in {seconds:.0f} s: " + ", ".join(f"{counts[o]} {o}" for o in OUTCOMES))
    if args.k is None:
        meta = {
            "command": "python benchmarks/bad_inputs.py" + (" --spawn" if args.spawn else ""),
            "machine": hardware(),
            "date": now(),
            "seconds": round(seconds, 1),
        }
        write_results(args.out, to_markdown(rows, counts, meta), {**meta, "counts": counts, "cases": rows})
        print(f"wrote {args.out}.md and .json")
        if args.docs:
            update_docs(HERE.parent / "docs" / "bad_inputs.md", rows, counts, meta)
            print("rewrote the battery's table in docs/bad_inputs.md")
    ok = counts["traceback"] == 0 and counts["silent"] == 0 and counts["other"] == 0 and counts["vague"] <= 3
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
