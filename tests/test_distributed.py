"""Data-parallel training (graphlearn.distributed): two processes on 127.0.0.1 train what one process trains.

Tolerance: with dropout 0 the two-process run differs from the one-process run only by float rounding (the
gradient of the shard sums is added across ranks instead of inside one reduction), measured at about 2.5e-7
relative on the losses and 1.2e-7 absolute on the weights after 30 epochs. The tests allow 1e-5 relative on every
epoch's loss and 1e-5 absolute on the weights (a few hundred times that), and ask for the same selected epoch and
the same accuracies (counts over fixed masks, so compared exactly: a flip would need a near-tie of the logits).
With dropout the ranks draw other masks than one process does, so only the ranks' agreement is checked then.
"""

from __future__ import annotations

import socket

import pytest
import torch

from graphlearn import distributed
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
