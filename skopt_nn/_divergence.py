"""When training has diverged: the test the training loop applies to each epoch."""

import math
import statistics

# A loss this many times its reference means training diverged even while it
# is still finite: training never goes that far above the losses it started
# from on the same data.
DIVERGENCE_FACTOR = 1e3

# A first epoch is judged half against half from this many minibatches: each
# half's median then ignores a minibatch of outliers.
MIN_BATCHES_FOR_HALVES = 6

# A first epoch whose mean loss is this many times its first minibatch's is
# judged against the loss at the parameters it started from, measured on all
# its rows (a pass the estimator makes only then: a sound first epoch's mean
# stays near or below its first minibatch's loss).
START_CHECK_FACTOR = 10.0

# A fit that ends with a loss this many times the loss at the parameters it
# started from (where that is known) failed, however calm its last epochs: a
# step blew the parameters up and training settled far above where it began.
# (A factor, not any increase: a momentum method continuing a converged fit
# may end a little above its start.)
END_FACTOR = 10.0

# ... and whose loss is also over this fraction of the loss of the best constant
# prediction: a training R^2 (for the squared error; its analogue D^2 for the
# cross-entropy and the Poisson deviance) below 0.9. A fit that started near a loss of zero and ended at
# its optimizer's noise level (Adam continuing an L-BFGS optimum: 1.3e-5 to
# 7.7e-4, 60 times) has not failed; one that lost much of what it had learned
# (0.04 to 0.45 on iris, against 1.1 for a constant) has.
END_FLOOR = 0.1


class DivergenceTest:
    """Accumulates an epoch's minibatch losses and judges whether it diverged.

    An epoch diverged if its mean loss is not finite, or if a loss is over
    ``DIVERGENCE_FACTOR`` times its reference:

    - the first epoch of a call of ``fit`` or ``partial_fit``: against the loss
      at the parameters the call started from, on the same rows, where the
      estimator measured it (see :meth:`wants_start_loss`: a loss that blew up
      in the first few updates), or the loss before the call if that is
      larger; and on its own: the median minibatch loss of its second half
      against its first half's, or against the loss before the call if that
      is larger. Medians,
      so that a minibatch holding an outlier (a target 1000 times the others,
      whose squared error is a million times theirs) is not divergence; and
      only when its rows are shuffled, from ``MIN_BATCHES_FOR_HALVES``
      minibatches: in the given order the halves may differ by design
      (targets sorted by size). Otherwise a first epoch is judged by
      finiteness alone;
    - later epochs: their mean loss against the first epoch's, or against the
      loss at the starting parameters where that was measured and is lower (a
      first epoch that blew up is no reference for the next).

    :meth:`ended_above_start` judges the whole call once it is over.

    A loss of an earlier call only ever raises the reference: it may be of other
    data, on another scale (``partial_fit`` on a stream, ``warm_start`` on new
    data), and a smaller one would flag a sound epoch. A larger one spares a
    well-fitted model whose half-epoch losses, tiny, differ by chance (a few
    hard rows in one half).

    Parameters
    ----------
    n_batches : int
        Minibatches per epoch.
    total_weight : float
        Rows (or total sample weight) per epoch: the mean loss is the sum of
        each minibatch's mean loss times its weight, over this.
    previous_loss : float or None, default=None
        The mean loss of the epoch before this call (``loss_``), if any.

    Examples
    --------
    >>> test = DivergenceTest(n_batches=6, total_weight=60)
    >>> test.start_epoch(shuffled=True)
    >>> for loss in [2.0, 1.5, 1.8, 900.0, 1e4, 1e6]:
    ...     test.add(loss, 10)
    >>> test.diverged()
    True
    """

    def __init__(self, n_batches, total_weight, previous_loss=None):
        self.n_batches = n_batches
        self.halves = n_batches >= MIN_BATCHES_FOR_HALVES
        self.total_weight = total_weight
        self.previous_loss = 0.0 if previous_loss is None else previous_loss
        self.first_epoch_loss = None
        # the mean loss at the parameters the call started from, on its rows,
        # where known: measured (see wants_start_loss), or a one-minibatch
        # epoch's, whose step evaluates at those parameters
        self.start_loss = None
        self.start_epoch()

    def start_epoch(self, shuffled=False):
        """Start an epoch, whose rows come in a random order if ``shuffled``."""
        self._sum = 0.0
        self._first_loss = None
        # the minibatch losses, kept only where the halves will be compared
        self._losses = [] if shuffled and self.halves \
            and self.first_epoch_loss is None else None

    def add(self, loss, weight):
        """Record the next minibatch's mean loss, of rows weighing ``weight``."""
        self._sum += loss * weight
        if self._first_loss is None:
            self._first_loss = loss
        if self._losses is not None:
            self._losses.append(loss)

    def epoch_loss(self):
        return self._sum / self.total_weight

    def wants_start_loss(self):
        """Whether :meth:`diverged` needs the loss at the parameters this call
        started from: in its first epoch, when the epoch's mean loss is over
        ``START_CHECK_FACTOR`` times its first minibatch's (taken at those
        parameters, but on a few rows only)."""
        loss = self.epoch_loss()
        return (self.first_epoch_loss is None and self._first_loss is not None
                and math.isfinite(loss)
                and loss > START_CHECK_FACTOR * self._first_loss
                # (below, the loss before the call spares the epoch anyway)
                and loss > DIVERGENCE_FACTOR * self.previous_loss)

    def diverged(self, start_loss=None):
        """Whether the epoch diverged; ``start_loss`` is the mean loss at the
        parameters the call started from, on the epoch's rows, if measured."""
        loss = self.epoch_loss()
        if not math.isfinite(loss):
            return True
        if self.first_epoch_loss is not None:
            return loss > DIVERGENCE_FACTOR * self._reference()
        if start_loss is not None:
            self.start_loss = start_loss
            if loss > DIVERGENCE_FACTOR * max(start_loss, self.previous_loss):
                return True
        if self._losses is None:
            return False
        half = len(self._losses) // 2
        first = max(statistics.median(self._losses[:half]), self.previous_loss)
        return statistics.median(self._losses[half:]) > DIVERGENCE_FACTOR * first

    def _reference(self):
        """The loss later epochs are judged against (see the class docstring)."""
        if self.start_loss is None:
            return self.first_epoch_loss
        return min(self.first_epoch_loss, self.start_loss)

    def end_epoch(self):
        """Accept the epoch (it did not diverge): the first becomes the reference."""
        if self.first_epoch_loss is None:
            self.first_epoch_loss = self.epoch_loss()
            if self.start_loss is None and self.n_batches == 1:
                self.start_loss = self._first_loss

    def update_diverged(self, end_loss, before_loss, constant_loss):
        """Whether the last update of a call diverged.

        Each minibatch's loss is taken before its update, and a later epoch
        judges an epoch's updates; the call's last update, nothing does
        (``partial_fit`` on a stream makes one or a few updates per call).
        ``end_loss`` is the loss after it and ``before_loss`` before it, on the
        same rows (its minibatch's). Diverged: not finite, or over
        ``DIVERGENCE_FACTOR`` times both ``before_loss`` and the loss before
        the call, and over ``constant_loss()``, the loss of the best constant
        prediction on the call's rows (called only then): a tiny loss grown a
        thousandfold but still below what the output bias alone reaches is no
        blow-up.
        """
        if not math.isfinite(end_loss):
            return True
        return (end_loss > DIVERGENCE_FACTOR * max(before_loss, self.previous_loss)
                and end_loss > constant_loss())

    def ended_above_start(self, final_loss):
        """Whether a call that ended with ``final_loss`` (its last epoch's) failed:
        over ``END_FACTOR`` times the loss at its starting parameters, if known."""
        return self.start_loss is not None and final_loss > END_FACTOR * self.start_loss
