"""Data-parallel training (graphlearn.distributed): two processes on 127.0.0.1 train what one process trains.

Tolerance: with dropout 0 the two-process run differs from the one-process run only by float rounding (the
gradient of the shard sums is added across ranks instead of inside one reduction), measured at about 2.5e-7
relative on the losses and 1.2e-7 absolute on the weights after 30 epochs. The tests allow 1e-5 relative on every
epoch's loss and 1e-5 absolute on the weights (a few hundred times that), and ask for the same selected epoch and
the same accuracies (counts over fixed masks, so compared exactly: a flip would need a near-tie of the logits).
With dropout the ranks draw other masks than one process does, so only the ranks' agreement is checked then.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from graphlearn import distributed, sparse
from graphlearn.distributed import Context, shard_rows

LOSS_RTOL = 1e-5
WEIGHT_ATOL = 1e-5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- without processes ------------------------------------------------------------------------------------------


def test_shard_rows_covers_the_index_once_in_order():
    index = torch.arange(7) * 3
    shares = [shard_rows(index, r, 3) for r in range(3)]
    assert [len(s) for s in shares] == [3, 2, 2]  # uneven: the loss divides by the total, not by the share
    assert torch.equal(torch.cat(shares), index)


def test_a_world_larger_than_the_rows_is_a_clear_error():
    with pytest.raises(ValueError, match="world size 4 exceeds the 3 row"):
        shard_rows(torch.arange(3), 0, 4)
    with pytest.raises(ValueError, match=r"rank must be in \[0, 2\)"):
        shard_rows(torch.arange(3), 2, 2)


def test_single_process_context_is_the_identity(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    with distributed.session() as ctx:
        assert ctx == Context() and not ctx.parallel and ctx.is_main and distributed.is_main()
        model = torch.nn.Linear(2, 2)
        assert ctx.wrap(model) is model
        index = torch.arange(5)
        assert ctx.shard(index) is index and ctx.broadcast({"a": 1}) == {"a": 1}
        assert ctx.on_main(lambda: 3) == 3 and ctx.loss_value(torch.tensor(2.5)) == 2.5


def test_torchrun_with_one_process_is_the_single_process_context(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    with distributed.session() as ctx:
        assert ctx == Context() and not torch.distributed.is_initialized()


def test_a_lost_peer_is_an_interruption_and_other_errors_pass_through():
    two = Context(rank=1, world_size=2, backend="gloo")
    gloo = "[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] Connection closed by peer [::1]:5. "
    gloo += "This is typically caused by a remote worker crashing. Check the logs of the remote worker"
    gone = r"^rank 1 of 2: another rank of the job is gone \(Connection closed by peer \[::1\]:5\)$"
    with pytest.raises(distributed.PeerLost, match=gone):
        with two.guard():
            raise RuntimeError(gloo)
    assert issubclass(distributed.PeerLost, KeyboardInterrupt)  # pipelines mark their runs KILLED, not FAILED
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"), two.guard():
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
    with pytest.raises(RuntimeError, match="gloo/transport"), Context().guard():  # one process: no peer to lose
        raise RuntimeError(gloo)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"RANK": "x", "WORLD_SIZE": "2"}, r"\$RANK must be an integer \(got 'x'\)"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, r"\$RANK=2 and \$WORLD_SIZE=2"),
        ({"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": ""}, r"\$MASTER_ADDR and \$MASTER_PORT not set"),
        (
            {"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1", "GRAPHLEARN_DIST_BACKEND": "mpi"},
            r"GRAPHLEARN_DIST_BACKEND='mpi'; choose one of \['gloo', 'nccl'\]",
        ),
    ],
)
def test_bad_launch_environment_is_a_clear_error(monkeypatch, env, message):
    for name in ("MASTER_ADDR", "MASTER_PORT", "GRAPHLEARN_DIST_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        distributed.init()
    assert distributed.current() == Context()


# --- two processes: the OGB protocol, data-parallel --------------------------------------------------------------

# (case, model, dropout, split): a dense MLP, SIGN (propagated features), SGC under GLNN's inductive split (held-out
# nodes predicted from the full graph's propagation), an MLP on CSR bag-of-words input, and SIGN with dropout.
CASES = [
    ("mlp", "mlp", 0.0, "coldstart"),
    ("sign", "sign", 0.0, "coldstart"),
    ("sgc-inductive", "sgc", 0.0, "inductive"),
    ("mlp-csr", "mlp", 0.0, "csr"),
    ("sign-dropout", "sign", 0.5, "coldstart"),
]


def _graph(split: str):
    from graphlearn.data import dc_sbm
    from graphlearn.data.splits import ColdStartSplit, InductiveSplit, degree_groups

    graph = dc_sbm(400, num_features=32, seed=1)
    if split == "inductive":
        return InductiveSplit(seed=1)(degree_groups(graph, seed=1))
    if split == "csr":  # 160 columns, ~5 % non-zero: graphlearn.sparse.model_input makes it CSR
        g = torch.Generator().manual_seed(0)
        keep = torch.rand(400, 160, generator=g) < 0.05
        graph.x = (torch.rand(400, 160, generator=g) * keep) + torch.nn.functional.one_hot(graph.y, 160) * 0.5
    return ColdStartSplit(seed=0)(graph)


def train_cases(ctx: Context) -> dict:
    """Every case of :data:`CASES` under the OGB protocol (patience 8: early stopping is part of what must agree)."""
    from graphlearn.evaluation import run_protocol
    from graphlearn.models import build_model

    out = {}
    for case, name, p, split in CASES:
        data = _graph(split)
        kw = {"dropout": p} if name == "mlp" else {"dropout": p, "input_dropout": p}
        res = run_protocol(
            lambda data=data, name=name, kw=kw: build_model(name, data.num_features, 16, data.num_classes, **kw),
            data,
            runs=1,
            epochs=30,
            seed=3,
            patience=8,
            progress=False,
            keep_models=True,
            parallel=ctx,
        )
        out[case] = {
            "curve": res.curves[0],
            "per_run": res.per_run[0],
            "best": res.best_epochs[0],
            "model": res.models[0],
        }
    return out


# GLNN (label loss on the training nodes + distillation on every node with an edge) and the MLP baseline (no
# teacher), Cold Brew's feature-only baselines, dropout 0
GLNN_CASES = [("glnn", 0.5), ("mlp-baseline", 1.0)]


def train_glnn_cases(ctx: Context) -> dict:
    from graphlearn.methods.coldbrew import train_glnn

    data = _graph("coldstart")
    teacher = torch.randn(data.num_nodes, data.num_classes, generator=torch.Generator().manual_seed(5))
    out = {}
    for case, lam in GLNN_CASES:
        torch.manual_seed(7)
        model, fitted = train_glnn(
            data.x,
            data.y,
            teacher if lam < 1 else None,
            train_mask=data.train_mask,
            val_mask=data.val_mask,
            kd_mask=data.degree > 0 if lam < 1 else None,
            lam=lam,
            temperature=2.0,
            hidden_channels=32,
            dropout=0.0,
            epochs=30,
            patience=8,
            parallel=ctx,
        )
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        accuracies = {k: v for k, v in fitted.best_metrics.items() if k != "loss"}  # the loss: within LOSS_RTOL
        out[case] = {"curve": fitted.curve, "per_run": accuracies, "best": fitted.best_epoch, "model": state}
    return out


def train_student_case(ctx: Context) -> dict:
    """The Cold Brew student (MLP1, the virtual-neighbour search, MLP2 with distillation, the feature head), dropout
    0, on a fixed random teacher."""
    from graphlearn.methods.coldbrew import ColdBrewStudent

    data = _graph("coldstart")
    g = torch.Generator().manual_seed(11)
    emb = torch.randn(data.num_nodes, 8, generator=g)
    logits = torch.randn(data.num_nodes, data.num_classes, generator=g)
    torch.manual_seed(13)
    student = ColdBrewStudent(data.num_features, 8, data.num_classes, hidden_channels=16, dropout=0.0, k=5,
                              query="features", metric="cos", feature_head=0.5)  # fmt: skip
    fitted = student.fit(
        data.x, data.y, emb, train_mask=data.train_mask, val_mask=data.val_mask, candidate_mask=data.degree > 0,
        teacher_logits=logits, kd_weight=2.0, kd_temperature=2.0, epochs=25, patience=8, parallel=ctx,
    )  # fmt: skip
    parts = [fitted["mlp1"], fitted["mlp2"], fitted["mlp3"]]
    accuracies = {k: v for k, v in fitted["mlp2"].best_metrics.items() if k != "loss"}
    return {
        "student": {
            "curve": [m for f in parts for m in f.curve],
            "per_run": accuracies,
            "best": tuple(f.best_epoch for f in parts),
            "model": {k: v.detach().clone() for k, v in student.state_dict().items()},
        }
    }


def pretrain_case(ctx: Context) -> dict:
    """The GIANT pretrainer (3 levels, matcher-aware negatives), dropout 0, no hub cap binding; the batch size leaves
    a last batch of one node, so one rank's share of it is empty."""
    from graphlearn.data.splits import node_degree
    from graphlearn.methods.giant import pretrain

    data = _graph("coldstart")
    n_train = int((node_degree(data.edge_index, data.num_nodes) > 0).sum())
    batch = next(b for b in range(40, n_train) if n_train % b == 1)
    config = dict(branching=4, max_leaf_size=8, hidden_channels=32, out_channels=16, dropout=0.0, epochs=2,
                  batch_size=batch, topk=3, max_candidates=10**6, progress=False)  # fmt: skip
    result = pretrain(data, config, seed=4, parallel=ctx)
    assert result.tree.num_levels >= 3
    return {
        "pretrain": {
            "curve": [{"loss": h["loss"]} for h in result.history],
            "per_run": {"pairs": [h["pairs_per_node"] for h in result.history], "beam": result.level_metrics},
            "best": len(result.history),
            "model": {k: v.detach().clone() for k, v in result.encoder.state_dict().items()},
        }
    }


def train_all(ctx: Context) -> dict:
    return train_cases(ctx) | train_glnn_cases(ctx) | train_student_case(ctx) | pretrain_case(ctx)


def _worker(rank: int, world: int, port: int, folder: str) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    with distributed.session() as ctx:
        assert ctx.parallel and ctx.backend == "gloo"
        torch.save(train_all(ctx), Path(folder) / f"rank{rank}.pt")


@pytest.fixture(scope="module")
def two_process_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    torch.multiprocessing.spawn(_worker, args=(2, free_port(), str(folder)), nprocs=2, join=True)
    return [torch.load(folder / f"rank{r}.pt") for r in range(2)]


@pytest.fixture(scope="module")
def one_process_run():
    return train_all(Context())


def test_every_rank_takes_the_same_decisions_and_ends_with_the_same_model(two_process_runs):
    rank0, rank1 = two_process_runs
    for case in [c[0] for c in CASES] + [c[0] for c in GLNN_CASES] + ["student", "pretrain"]:
        assert rank0[case]["curve"] == rank1[case]["curve"], case  # the same metrics, so the same early stop
        assert rank0[case]["best"] == rank1[case]["best"], case
        for key, value in rank0[case]["model"].items():
            assert torch.equal(value, rank1[case]["model"][key]), (case, key)


@pytest.mark.parametrize(
    "case", [c[0] for c in CASES if c[2] == 0.0] + [c[0] for c in GLNN_CASES] + ["student", "pretrain"]
)
def test_two_processes_train_what_one_process_trains(two_process_runs, one_process_run, case):
    two, one = two_process_runs[0][case], one_process_run[case]
    assert len(two["curve"]) == len(one["curve"]), "early stopping at another epoch"
    loss2 = torch.tensor([m["loss"] for m in two["curve"]], dtype=torch.float64)
    loss1 = torch.tensor([m["loss"] for m in one["curve"]], dtype=torch.float64)
    torch.testing.assert_close(loss2, loss1, rtol=LOSS_RTOL, atol=0.0)
    assert two["best"] == one["best"] and two["per_run"] == one["per_run"]
    for key, value in one["model"].items():
        torch.testing.assert_close(two["model"][key], value, rtol=0.0, atol=WEIGHT_ATOL)


def test_graph_models_are_refused_under_data_parallelism():
    from graphlearn.evaluation.protocol import _data_parallel
    from graphlearn.models import build_model

    data = _graph("coldstart")
    two = Context(rank=0, world_size=2, backend="gloo")  # refused before any collective
    with pytest.raises(ValueError, match="is not data-parallel"):
        _data_parallel(build_model("gcn", 32, 16, 3), {"obs": data.x}, data.y, data.train_mask, two)


# --- row-partitioned propagation ---------------------------------------------------------------------------------

PROPAGATION_ATOL = 1e-5  # float rounding of the per-row sums in another order: measured up to 9.5e-7 (hop 3)


def _propagation_worker(rank: int, world: int, port: int, folder: str) -> None:
    from graphlearn.data import dc_sbm

    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    graph = dc_sbm(600, num_features=8, seed=2)
    with distributed.session() as ctx:
        hops, rows = distributed.propagate_rows(graph.x, graph.edge_index, 3, ctx)
        chunked, _ = distributed.propagate_rows(graph.x, graph.edge_index, 3, ctx, chunk=3)  # 8 columns: 3 + 3 + 2
        part = distributed.RowPartition(graph.edge_index, graph.num_nodes, ctx)
        block = part.operator
        path = torch.stack([torch.arange(599), torch.arange(1, 600)])  # a path: each block needs 1-2 more rows
        path_part = distributed.RowPartition(torch.cat([path, path.flip(0)], dim=1), 600, ctx)
        x = torch.arange(600, dtype=torch.float32).view(-1, 1)
        path_hop = path_part.matmul(x[rows])
        torch.save(
            {
                "hops": hops,
                "chunked": chunked,
                "rows": (rows.start, rows.stop),
                "operator_shape": tuple(block.shape),
                "halo": sum(part.recv_counts),
                "path_halo": sum(path_part.recv_counts),
                "path_hop": path_hop,
                "block_columns": int(
                    torch.unique(
                        graph.edge_index[0][(graph.edge_index[1] >= rows.start) & (graph.edge_index[1] < rows.stop)]
                    ).numel()
                ),
            },
            Path(folder) / f"prop{rank}.pt",
        )


@pytest.fixture(scope="module")
def three_process_propagation(tmp_path_factory):
    folder = tmp_path_factory.mktemp("propagation")
    torch.multiprocessing.spawn(_propagation_worker, args=(3, free_port(), str(folder)), nprocs=3, join=True)
    return [torch.load(folder / f"prop{r}.pt") for r in range(3)]


def test_row_partitioned_propagation_is_the_single_process_propagation(three_process_propagation):
    from graphlearn.data import dc_sbm
    from graphlearn.models.sign import propagate

    graph = dc_sbm(600, num_features=8, seed=2)
    whole = propagate(graph.x, graph.edge_index, 3)
    parts = three_process_propagation
    assert [p["rows"] for p in parts] == [(0, 200), (200, 400), (400, 600)]
    for hop in range(4):
        joined = torch.cat([p["hops"][hop] for p in parts])
        torch.testing.assert_close(joined, whole[hop], rtol=0.0, atol=PROPAGATION_ATOL)
    for p in parts:  # exchanging 3 feature columns at a time: the same sums (the product's rounding may differ)
        for a, b in zip(p["chunked"], p["hops"], strict=True):
            torch.testing.assert_close(a, b, rtol=0.0, atol=PROPAGATION_ATOL)
    for p in parts:  # each rank holds its row block over the halo its columns name (its edges' sources, self-loops)
        start, stop = p["rows"]
        assert p["operator_shape"] == (stop - start, p["halo"])
        assert p["block_columns"] <= p["halo"] <= p["block_columns"] + (stop - start)
    # on a path, a block's halo is its own rows and the one or two rows beyond its ends: exchanged, not all 600
    assert [p["path_halo"] for p in parts] == [201, 202, 201]
    path = torch.stack([torch.arange(599), torch.arange(1, 600)])
    P = sparse.propagation_matrix(torch.cat([path, path.flip(0)], dim=1), 600)
    expected = P @ torch.arange(600, dtype=torch.float32).view(-1, 1)
    torch.testing.assert_close(torch.cat([p["path_hop"] for p in parts]), expected, rtol=0.0, atol=PROPAGATION_ATOL)


def test_one_process_propagation_is_bit_for_bit_sign_s():
    from graphlearn.data import dc_sbm
    from graphlearn.models.sign import propagate

    graph = dc_sbm(200, num_features=4, seed=0)
    hops, rows = distributed.propagate_rows(graph.x, graph.edge_index, 2, Context())
    assert rows == slice(0, 200)
    for a, b in zip(hops, propagate(graph.x, graph.edge_index, 2), strict=True):
        assert torch.equal(a, b)


def test_partition_bad_input_is_named():
    from graphlearn.data import dc_sbm

    graph = dc_sbm(50, num_features=4, seed=0)
    with pytest.raises(ValueError, match="world size 64 exceeds the 50 node"):
        distributed.RowPartition(graph.edge_index, 50, Context(rank=0, world_size=64, backend="gloo"))
    part = distributed.RowPartition(graph.edge_index, 50, Context())
    with pytest.raises(ValueError, match=r"owns rows \[0, 50\) \(50\) but got shape \[49, 4\]"):
        part.matmul(graph.x[:49])
    with pytest.raises(ValueError, match="chunk must be >= 1 feature column or None"):
        part.matmul(graph.x, chunk=0)
    assert distributed.row_bounds(7, 3) == [0, 3, 5, 7]


# --- a rank that fails ------------------------------------------------------------------------------------------

FAILING = """
import os, signal, sys, time
from pathlib import Path
import torch
from graphlearn import distributed

with distributed.session() as ctx:
    Path(sys.argv[1], f"pid{ctx.rank}").write_text(str(os.getpid()))
    ctx.loss_value(torch.ones(()))  # both ranks are up
    if ctx.rank == 1:
        if sys.argv[2] == "raises":
            raise ValueError("rank 1 fails on purpose")
        os.kill(os.getpid(), signal.SIGKILL)
    if sys.argv[2] == "raises":
        ctx.loss_value(torch.ones(()))  # waits for rank 1 in a collective
    else:
        time.sleep(600)  # busy elsewhere: torchrun has to stop it
"""


@pytest.mark.parametrize("how", ["raises", "killed"])
def test_a_failing_rank_fails_the_job_promptly_and_leaves_no_process(tmp_path, how):
    script = tmp_path / "job.py"
    script.write_text(FAILING)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--rdzv-backend", "c10d",
                "--rdzv-endpoint", f"127.0.0.1:{free_port()}"]  # fmt: skip
    start = time.monotonic()
    job = subprocess.run(
        [*launcher, str(script), str(tmp_path), how], env=env, capture_output=True, text=True, timeout=120
    )
    assert job.returncode != 0 and time.monotonic() - start < 60
    output = job.stdout + job.stderr
    pids = [int((tmp_path / f"pid{rank}").read_text()) for rank in (0, 1)]
    if how == "raises":
        assert "[rank1]: ValueError: rank 1 fails on purpose" in output
    else:
        assert f"Signal 9 (SIGKILL) received by PID {pids[1]}" in output
    for pid in pids:  # torchrun stopped the other rank: nothing is left running
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_student_options_that_do_not_train_data_parallel_are_refused_by_name():
    from graphlearn.methods.coldbrew import ColdBrewStudent

    data = _graph("coldstart")
    student = ColdBrewStudent(data.num_features, 8, data.num_classes, hidden_channels=16, k=5)
    two = Context(rank=0, world_size=2, backend="gloo")  # refused before any collective
    with pytest.raises(ValueError, match="does not train data-parallel with mlp1_folds, tcm_weight"):
        student.fit(
            data.x, data.y, torch.randn(data.num_nodes, 8), train_mask=data.train_mask, val_mask=data.val_mask,
            candidate_mask=data.degree > 0, mlp1_folds=2, tcm_weight=0.1, epochs=2, parallel=two,
        )  # fmt: skip
