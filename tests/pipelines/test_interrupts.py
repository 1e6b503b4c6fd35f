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
    assert sys.unraisablehook is previous[2] and signal.getsignal(signal.SIGTERM) is previous[0]
