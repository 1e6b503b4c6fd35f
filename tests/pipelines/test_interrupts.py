"""A SIGTERM whose KeyboardInterrupt lands in a weakref callback (where Python drops exceptions) still stops the job."""

import os
import signal
import sys
import time
import weakref

import pytest

from pipelines import cli


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs POSIX timers")
def test_interrupt_dropped_in_a_weakref_callback_is_delivered_again():
    previous = cli._catch_interrupts()
    try:

        class Node:
            pass

        def callback(_):  # the signal's handler runs here, and its exception would be ignored
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):
                pass

        node = Node()
        ref = weakref.ref(node, callback)  # noqa: F841
        with pytest.raises(KeyboardInterrupt):
            del node
            deadline = time.time() + 5
            while time.time() < deadline:
                pass
    finally:
        cli._restore_interrupts(previous)
    assert sys.unraisablehook is previous[-1] and signal.getsignal(signal.SIGTERM) is previous[0]


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs POSIX timers")
def test_interrupt_inside_a_store_call_lands_after_it(tmp_path):
    """A SIGTERM that arrives while MLflow's SQLite store reads rows is delivered once the call is over, so the run
    can be marked KILLED at once (raised inside the read, it kept the read lock: "database is locked" after 20 s)."""
    import mlflow
    from sqlalchemy import event

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = mlflow.tracking.MlflowClient()
    run_id = client.create_run(client.create_experiment("interrupts")).info.run_id
    engine = mlflow.tracking._get_store().engine
    fired = []

    def signal_inside(conn, cursor, statement, *args):  # SQLAlchemy is running a statement for the store
        if not fired and statement.lstrip().upper().startswith("SELECT") and "runs" in statement:
            fired.append(statement)
            os.kill(os.getpid(), signal.SIGTERM)

    event.listen(engine, "after_cursor_execute", signal_inside)
    previous = cli._catch_interrupts()
    got = None
    try:
        with pytest.raises(KeyboardInterrupt, match="signal 15"):
            got = client.get_run(run_id)  # the interrupt does not come out of here ...
            deadline = time.time() + 5  # ... but right after
            while time.time() < deadline:
                pass
    finally:
        cli._restore_interrupts(previous)
        event.remove(engine, "after_cursor_execute", signal_inside)
    assert fired and got is not None and got.info.run_id == run_id
    start = time.time()
    client.set_terminated(run_id, "KILLED")  # no lock left behind
    assert time.time() - start < 5 and client.get_run(run_id).info.status == "KILLED"
    mlflow.set_tracking_uri(None)


def test_an_error_while_stopping_is_still_an_interruption(capsys):
    """An interrupted job whose KILLED mark fails (a busy store) exits 130 saying so, not 2 as a plain error."""
    import argparse

    args = argparse.Namespace(command="coldbrew", verbose=False)
    try:
        try:
            raise KeyboardInterrupt("signal 15")
        except KeyboardInterrupt:
            raise OSError("database is locked") from None
    except OSError as e:
        assert e.__context__ is not None
        assert cli._failed(args, e, 0, 1) == 130
    assert "coldbrew: interrupted; then, while stopping: database is locked" in capsys.readouterr().err
    assert cli._failed(args, OSError("no such file: a.csv"), 0, 1) == 2
    assert "coldbrew: error: no such file: a.csv" in capsys.readouterr().err
