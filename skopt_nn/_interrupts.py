"""Ctrl-C during a fit: at once within the updates, at the epoch's end elsewhere.

An epoch's updates are followed by its bookkeeping: the validation of early
stopping, batch normalization's inference statistics, the stopping tests, the
records. A ``KeyboardInterrupt`` raised in the updates is caught by the training
loop, which undoes the interrupted epoch and keeps the finished ones, as
scikit-learn's MLP does; raised in the bookkeeping, it would leave the epoch half
recorded, so the fit is undone entirely, as after any failure. A Ctrl-C that
lands in the bookkeeping therefore waits for the epoch's end, and then stops
training as one in the updates does. With early stopping and batch
normalization, the bookkeeping (a pass over the training rows) took 23% of the
time of a fit on digits: about as many interrupts would otherwise lose every
finished epoch.

Only where Python's own SIGINT handler is installed, in the main thread (signal
handlers run there only); elsewhere Ctrl-C raises where it lands, as before.
"""

import signal
import threading


class DeferredInterrupts:
    """Within it, SIGINT raises ``KeyboardInterrupt`` while :attr:`immediate`,
    and otherwise sets :attr:`pending` for the training loop to act on.

    Parameters
    ----------
    active : bool, default=True
        False: a context that changes nothing (``pending`` stays False).
    """

    def __init__(self, active=True):
        self.active = active
        self.immediate = False
        self.pending = False
        self.warned = False  # (set by the training loop once it has warned)
        self._previous = None

    def __enter__(self):
        if self.active and threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._on_interrupt)
        return self

    def _on_interrupt(self, signum, frame):
        if self.immediate:
            raise KeyboardInterrupt
        self.pending = True

    def __exit__(self, *exc_info):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False
