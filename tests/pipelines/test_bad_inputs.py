"""One test per bad input fixed after the battery (benchmarks/bad_inputs.py, docs/bad_inputs.md): each fails with
one line `graphlearn <cmd>: error: ...` (exit code 2) naming the value, before any training."""

from __future__ import annotations

import pickle
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch

from pipelines.cli import main, one_line

SYN = ["--dataset", "synthetic:200", "--no-progress"]
NODES = "id,label,f0,f1\n" + "".join(f"{i},{i % 2},{i * 0.1:.1f},{1 - i * 0.05:.2f}\n" for i in range(20))
EDGES = "src,dst\n" + "".join(f"{i},{(i + 1) % 20}\n" for i in range(20))


def cli(argv: list[str]) -> int:
    """``graphlearn <argv>``'s exit code (argparse's own errors exit through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "argv, names",
    [
        (["train", *SYN, "--hidden", "0"], ["train: error: argument --hidden", "0"]),
        (["train", *SYN, "--lr", "0"], ["argument --lr: must be > 0, got 0"]),
        (["train", *SYN, "--lr", "nan"], ["argument --lr", "'nan'"]),
        (["train", *SYN, "--dropout", "1.5"], ["argument --dropout", "1.5"]),
        (["train", *SYN, "--input-dropout", "1"], ["argument --input-dropout: must be in [0, 1), got 1"]),
        (["train", *SYN, "--weight-decay", "-1"], ["argument --weight-decay", "-1"]),
        (["train", *SYN, "--epochs", "0"], ["argument --epochs: must be >= 1, got 0"]),
        (["adapt", "--lr", "-1"], ["adapt: error: argument --lr", "-1"]),
        (["train", *SYN, "--bogus", "1"], ["graphlearn train: error: unrecognized arguments: --bogus 1"]),
        (["train", *SYN, "--num-neighbors", "10,0"], ["argument --num-neighbors", "> 0 neighbours or -1", "'10,0'"]),
        (["train", *SYN, "--num-neighbors", "ten"], ["argument --num-neighbors", "'ten'"]),
        (["train", *SYN, "--batch-size", "0"], ["argument --batch-size: must be >= 1, got 0"]),
        (["train", *SYN, "--model", "sage", "--num-neighbors", "5,5"], ["num_neighbors needs batch_size > 0"]),
        (["train", *SYN, "--model", "sage", "--num-neighbors", "5", "--batch-size", "64"], ["has 1 hops", "2 layers"]),
        (["datasets", "--bogus"], ["graphlearn datasets: error: unrecognized arguments: --bogus"]),
        (["serve", "--model", "models:/m/1", "--port", "99999"], ["serve: error: argument --port", "99999"]),
        (["serve", "--model", "models:/m/1", "--port", "0"], ["argument --port", "got 0"]),
        (["train", "--dataset", "synthetic:1"], ["'synthetic:1': num_nodes must be >= num_classes"]),
        (["export", "--run", "x", "--model", "glnn", "--space", "retrieval"], ["--space retrieval", "glnn"]),
        (["export", "--run", "x", "--alias", "latest"], ["--alias 'latest'", "reserved"]),
        (["export", "--run", "x", "--alias", "v3"], ["--alias 'v3'", "reserved"]),
        (["export", "--run", "x", "--name", "a/b"], ["--name 'a/b'"]),
    ],
)
def test_argument_errors_name_the_flag_and_value(workdir, capsys, argv, names):
    assert cli(argv) == 2
    line = error_line(capsys)
    assert all(n in line for n in names), line


def test_data_root_that_is_a_file(workdir, capsys):
    (workdir / "r.txt").write_text("x")
    assert cli(["datasets", "--data-root", "r.txt"]) == 2
    assert error_line(capsys) == "graphlearn datasets: error: data root r.txt is not a folder"


@pytest.mark.parametrize("flag_cmd", [["train", *SYN], ["export", "--run", "x", "--no-register"]])
def test_out_that_is_a_file_fails_before_any_work(workdir, capsys, flag_cmd):
    (workdir / "out.txt").write_text("x")
    assert cli([*flag_cmd, "--out", "out.txt"]) == 2
    assert "--out out.txt: exists and is not a folder" in error_line(capsys)


def test_update_out_that_is_a_file(workdir, capsys):
    (workdir / "o.txt").write_text("x")
    assert cli(["update", "--from", "models:/m@champion", "--out", "o.txt"]) == 2
    assert "--out o.txt: exists and is not a folder" in error_line(capsys)


def test_unwritable_cwd_names_the_default_store(workdir, capsys, monkeypatch):
    monkeypatch.chdir("/proc")
    assert cli(["train", *SYN, "--epochs", "1"]) == 2
    line = error_line(capsys)
    assert "/proc/mlruns" in line and "--tracking-uri" in line


@pytest.mark.parametrize(
    "edges, nodes, names",
    [
        ("src,dst\n", NODES, ["e.csv", "has no edges", "--protocol standard"]),
        (EDGES, NODES.replace("id,label,", "id,lab,"), ["n.csv", "no labelled training node"]),
    ],
)
def test_user_graph_that_cannot_be_trained_names_the_cause(workdir, capsys, edges, nodes, names):
    (workdir / "e.csv").write_text(edges)
    (workdir / "n.csv").write_text(nodes)
    assert cli(["train", "--dataset", "user:e.csv:n.csv", "--epochs", "1", "--no-progress"]) == 2
    line = error_line(capsys)
    assert all(n in line for n in names), line


def test_user_table_that_is_a_folder_or_bytes_ids(tmp_path):
    import pandas as pd

    from graphlearn.data import load_user_graph
    from graphlearn.data.validation import GraphValidationError

    (tmp_path / "e.csv").write_text("src,dst\na,b\n")
    (tmp_path / "dir").mkdir()
    with pytest.raises(GraphValidationError, match="dir: is a folder"):
        load_user_graph(tmp_path / "e.csv", tmp_path / "dir")
    pd.DataFrame({"id": [b"a", b"b"], "label": [0, 1], "f0": [0.1, 0.2]}).to_parquet(tmp_path / "n.parquet")
    with pytest.raises(GraphValidationError, match=r"n.parquet: row 0: node id b'a' in column 'id' is bytes"):
        load_user_graph(tmp_path / "e.csv", tmp_path / "n.parquet")


@pytest.mark.parametrize(
    "name, write, match",
    [
        ("f.npz", lambda p: p.write_bytes(bytes(range(256))), "f.npz is not a readable features file: not an .npz"),
        ("f.npz", lambda p: np.savez(p, features=np.ones((5, 0), np.float32)), r"got shape \(5, 0\)"),
        ("f.pt", lambda p: torch.save(torch.full((3, 2), float("nan")), p), r"f.pt: features\[0, 0\] = nan"),
        ("f.pt", lambda p: torch.save({"x": torch.ones(3, 2)}, p), "f.pt has no 'features' tensor"),
    ],
)
def test_features_files(tmp_path, name, write, match):
    from graphlearn.features import load_features

    write(tmp_path / name)
    with pytest.raises(ValueError, match=match):
        load_features(tmp_path / name)


def test_pt_features_are_read(tmp_path):
    from graphlearn.features import load_features

    torch.save({"features": torch.ones(3, 2), "meta": {"dataset": "x"}}, tmp_path / "f.pt")
    x, meta = load_features(tmp_path / "f.pt")
    assert x.shape == (3, 2) and meta == {"dataset": "x"}


def test_features_of_a_failed_run(workdir, capsys):
    from graphlearn import tracking

    tracking.configure(None)
    with mlflow.start_run(tags={"job": "pretrain"}) as run:
        pass
    mlflow.MlflowClient().set_terminated(run.info.run_id, "FAILED")
    assert cli(["train", *SYN, "--features", f"pretrained:{run.info.run_id}"]) == 2
    line = error_line(capsys)
    assert f"run {run.info.run_id} (pretrain) is FAILED, not FINISHED" in line


GRDA_TABLE = "domain,label,f0,f1\n" + "".join(
    f"{d},{(i + d) % 2},{i * 0.3:.1f},{d + i}\n" for d in range(3) for i in range(4)
)


@pytest.mark.parametrize(
    "table, match",
    [
        (GRDA_TABLE.replace("\n0,0,", "\n0,,", 1), r"t.csv: row 0 has no label \(NaN\)"),
        (GRDA_TABLE.replace("\n0,1,0.3,", "\n0,1,inf,", 1), r"t.csv: row 1, feature column 0 is inf"),
    ],
)
def test_grda_user_table_labels_and_features(tmp_path, table, match):
    from graphlearn.data.grda import GRDAInputError, load_user_domains

    (tmp_path / "t.csv").write_text(table)
    (tmp_path / "g.csv").write_text("source,target\n0,1\n1,2\n")
    with pytest.raises(GRDAInputError, match=match):
        load_user_domains(tmp_path / "t.csv", tmp_path / "g.csv", ["0", "1"])


def test_grda_folders_and_planted_pickle(tmp_path):
    from graphlearn.data.grda import GRDAInputError, read_array_pickle, read_edge_list

    (tmp_path / "gdir").mkdir()
    with pytest.raises(GRDAInputError, match="gdir is a folder"):
        read_edge_list(tmp_path / "gdir")

    class Payload:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "PWNED",))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(pickle.UnpicklingError, match=r"evil.pkl: refusing to load pathlib.Path.touch"):
        read_array_pickle(tmp_path / "evil.pkl")
    assert not (tmp_path / "PWNED").exists()


def test_neighbors_csv_non_finite_names_file_row_and_column(tmp_path):
    from pipelines.neighbors import read_features_csv

    (tmp_path / "q.csv").write_text("id,a,b\n1,0.1,0.2\n2,0.3,inf\n")
    with pytest.raises(ValueError, match=r"q.csv: row 1 \(node id 2\), column 'b' is inf"):
        read_features_csv(str(tmp_path / "q.csv"))
    (tmp_path / "q.csv").write_text("id,a,b\n1.5,0.1,0.2\n")
    with pytest.raises(ValueError, match=r"node id 1.5 in column 'id'"):
        read_features_csv(str(tmp_path / "q.csv"))


def test_one_line_joins_multi_line_messages():
    assert one_line(ValueError("a:\n  b\n\n  c")) == "a:; b; c"
