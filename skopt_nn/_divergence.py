"""When training has diverged: the test the training loop applies to each epoch."""

import math

# A mean loss this many times its reference means training diverged even while
# the loss is still finite: training never goes that far above the losses it
# started from on the same data.
DIVERGENCE_FACTOR = 1e3


class DivergenceTest:
    """Accumulates an epoch's minibatch losses and judges whether it diverged.

    An epoch diverged if its mean loss is not finite, or over
    ``DIVERGENCE_FACTOR`` times its reference:

    - the first epoch of a call of ``fit`` or ``partial_fit`` is judged on its
      own: the mean loss of its second half of minibatches against its first
      half's, or against the previous epoch's loss if that is larger. Only
      when its rows are shuffled: in the given order, the halves may differ
      by design (targets sorted by size). A single update per call, or rows
      in order, can only be judged by finiteness;
    - later epochs against the first epoch's mean loss.

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
    >>> test = DivergenceTest(n_batches=4, total_weight=40)
    >>> test.start_epoch(shuffled=True)
    >>> for k, loss in enumerate([2.0, 1.5, 900.0, 1e6]):
    ...     test.add(k, loss, 10)
    >>> test.epoch_loss(), test.diverged()
    (250225.875, True)
    """

    def __init__(self, n_batches, total_weight, previous_loss=None):
        self.half = n_batches // 2
        self.total_weight = total_weight
        self.previous_loss = 0.0 if previous_loss is None else previous_loss
        self.first_epoch_loss = None
        self.start_epoch()

    def start_epoch(self, shuffled=False):
        """Start an epoch, whose rows come in a random order if ``shuffled``."""
        self._sum = self._weight = 0.0
        self._first_half = None
        self._halves = shuffled

    def add(self, k, loss, weight):
        """Record minibatch ``k``'s mean loss, of rows weighing ``weight``."""
        self._sum += loss * weight
        self._weight += weight
        if self._halves and k + 1 == self.half:
            self._first_half = (self._sum, self._weight)

    def epoch_loss(self):
        return self._sum / self.total_weight

    def diverged(self):
        loss = self.epoch_loss()
        if not math.isfinite(loss):
            return True
        if self.first_epoch_loss is not None:
            return loss > DIVERGENCE_FACTOR * self.first_epoch_loss
        if self._first_half is None:  # one minibatch, or rows in order
            return False
        first_sum, first_weight = self._first_half
        first = max(first_sum / first_weight, self.previous_loss)
        second = (self._sum - first_sum) / (self._weight - first_weight)
        return second > DIVERGENCE_FACTOR * first

    def end_epoch(self):
        """Accept the epoch (it did not diverge): the first becomes the reference."""
        if self.first_epoch_loss is None:
            self.first_epoch_loss = self.epoch_loss()
