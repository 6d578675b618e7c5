"""Fixtures shared by the test modules."""

import signal

import pytest


@pytest.fixture
def python_sigint_handler():
    """Python's own SIGINT handler during the test, as in an interactive session.

    The tests of Ctrl-C send this process real SIGINTs. A process started in the
    background by a non-interactive shell (``pytest ... &``, some CI runners)
    inherits SIGINT ignored: the signals would be lost and the tests fail.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if previous is not None:  # (None: a handler installed outside Python)
        signal.signal(signal.SIGINT, previous)
