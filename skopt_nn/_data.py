"""Row-level data handling for training: the validation split and minibatches."""

import warnings

import numpy as np
from scipy import sparse


def row_blocks(n_rows, block_rows):
    """``(start, stop)`` of consecutive blocks of ``block_rows`` rows; a last
    block of one row joins the one before it.

    A one-row block would be computed differently from the same row among
    others (BLAS takes a matrix-vector product for it; NumPy reduces a one-row
    slice of a Fortran-ordered array pairwise, more rows column by column), so
    its results would differ by rounding from those of the whole array.

    Examples
    --------
    >>> list(row_blocks(7, 3)), list(row_blocks(6, 3)), list(row_blocks(1, 3))
    ([(0, 3), (3, 7)], [(0, 3), (3, 6)], [(0, 1)])
    """
    starts = list(range(0, n_rows, block_rows))
    if len(starts) > 1 and n_rows - starts[-1] == 1:
        del starts[-1]
    return zip(starts, starts[1:] + [n_rows])


def _row_keys(X, Y, random_state):
    """A random key per row that depends only on the row's content (x and y).

    Identical rows get identical keys (each row is reduced the same way), distinct
    rows distinct keys with probability one.
    """
    r_x = random_state.standard_normal(X.shape[1])
    r_y = random_state.standard_normal(Y.shape[1])
    if sparse.issparse(X):
        if not getattr(X, "has_canonical_format", True):
            # a row's entries summed in their stored order: the same row stored
            # in another column order got another key, by rounding
            X = X.copy()
            X.sum_duplicates()  # (sorts the indices too)
        keys = np.asarray(X.multiply(r_x).sum(axis=1)).ravel()
    else:
        # in blocks of about 4 MB: the product is float64, a temporary the size
        # of all of X (twice X for float32 data: the fit's peak memory); each
        # row is reduced as it was, so the keys are the same
        keys = np.empty(X.shape[0])
        rows = max(2, (1 << 22) // (8 * max(1, X.shape[1])))
        for start, stop in row_blocks(X.shape[0], rows):
            keys[start:stop] = (X[start:stop] * r_x).sum(axis=1)
    return keys + (Y * r_y).sum(axis=1)


# Distinct held-out rows below which early stopping's validation is called
# unreliable (where repeated rows make it so: see validation_split).
FEW_DISTINCT_ROWS = 10


def validation_split(X, Y, sample_weight, fraction, strata, random_state):
    """Boolean mask of the rows held out for early stopping.

    Rows are assigned by a random key of their *content*, so repeated rows always
    land on the same side: a row of weight ``k`` and ``k`` copies of it give the
    same split (and no duplicate of a validation row is trained on). Within each
    stratum (class), whole groups of identical rows are taken in a random order
    (not in key order: the key is a random projection of the row, and its
    lowest values would be a tail of the data, not a sample of it), passing
    over those that would overshoot ``fraction`` of the stratum's weight. What
    the strata then fall short of ``fraction`` of the total weight is made up
    as scikit-learn's stratified ``train_test_split`` does (largest
    remainders): the strata furthest below their share each add their lightest
    group passed over, in turn, until the total is reached. The held-out
    weight is so close to ``fraction`` of the total, however small the
    classes (rounding each class up would hold out a row per class), and at
    least one group is held out. The whole stratum is never taken.

    With few distinct rows (a few binary or categorical features), the groups are
    coarse: the held-out weight may exceed ``fraction`` by far, and the
    validation rows, however many, may be a few patterns (fewer than
    ``FEW_DISTINCT_ROWS``, repeated twice or more on average) that training
    never sees. A warning then says so (counting rows: a few rows of large
    weights give the same split, but no warning).

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_outputs)
    sample_weight : ndarray of shape (n_samples,) or None
    fraction : float
    strata : ndarray of shape (n_samples,) or None
        Class labels to stratify on, or None.
    random_state : RandomState

    Returns
    -------
    ndarray of bool of shape (n_samples,)

    Examples
    --------
    Repeated rows stay together; a tenth of 30 distinct rows is held out:

    >>> import numpy as np
    >>> X = np.repeat(np.arange(30.0), 2)[:, None]
    >>> held_out = validation_split(X, np.zeros((60, 1)), None, 0.1, None,
    ...                             np.random.RandomState(0))
    >>> int(held_out.sum()), bool((held_out[0::2] == held_out[1::2]).all())
    (6, True)

    Ten classes of 12 rows: 12 rows held out (a row per class, and two more),
    not 20:

    >>> y = np.repeat(np.arange(10), 12)
    >>> held_out = validation_split(np.arange(120.0)[:, None], np.eye(10)[y],
    ...                             None, 0.1, y, np.random.RandomState(0))
    >>> int(held_out.sum()), int(np.bincount(y[held_out]).min())
    (12, 1)
    """
    keys = _row_keys(X, Y, random_state)
    weight = np.ones(len(keys)) if sample_weight is None else sample_weight
    if strata is None:
        strata = np.zeros(len(keys), dtype=int)
    held_out = np.zeros(len(keys), dtype=bool)
    strata_groups = []  # per stratum: rows, group of each row, groups taken
    shortfalls, completions = [], []
    for label in np.unique(strata):
        rows = np.flatnonzero(strata == label)
        unique_keys, group = np.unique(keys[rows], return_inverse=True)
        if len(unique_keys) < 2:
            continue
        order = random_state.permutation(len(unique_keys))
        group_weight = np.bincount(group, weights=weight[rows])[order]
        in_order, shortfall, completion = _stratum_share(
            group_weight, fraction * group_weight.sum())
        taken = np.zeros(len(unique_keys), dtype=bool)
        taken[order[in_order]] = True
        strata_groups.append((rows, group, taken))
        shortfalls.append(shortfall)
        completions.append(None if completion is None
                           else (order[completion[0]], completion[1]))
    _complete(strata_groups, completions, np.array(shortfalls),
              fraction * weight.sum(), random_state)
    repeated = False  # whether a held-out group has several rows
    for rows, group, taken in strata_groups:
        held_out[rows[taken[group]]] = True
        repeated |= bool((np.bincount(group)[taken] > 1).any())
    share = weight[held_out].sum() / weight.sum()
    distinct = sum(int(taken.sum()) for _, _, taken in strata_groups)
    # (few patterns, each standing for two rows or more on average, and ten
    # rows or more: a validation set of few rows, repeated or not, is the
    # user's choice of validation_fraction; one duplicate in it is no sign)
    few = distinct < FEW_DISTINCT_ROWS and \
        held_out.sum() >= max(FEW_DISTINCT_ROWS, 2 * distinct)
    if repeated and (share > 2 * fraction or few):
        warnings.warn(
            (f"early_stopping holds out {share:.0%} of the training weight, not "
             f"validation_fraction={fraction:g}" if share > 2 * fraction else
             f"early_stopping holds out {distinct} distinct row(s) ({share:.0%} "
             "of the training weight)") + ": identical rows stay on one side of "
            "the split, and these rows have few distinct values" + (
                "; the validation loss, which decides when training stops and "
                f"which epoch is kept, judges the network on {distinct} input "
                "pattern(s) that training never sees. With so few distinct "
                "rows, early_stopping=False may serve better" if few else "")
            + ".", UserWarning)
    return held_out


def _complete(strata_groups, completions, shortfalls, target, random_state):
    """Add groups passed over until the strata's total shortfall is made up
    (or, if no group is held out, one: ``target``, the held-out weight aimed
    at, is tiny).

    The largest-remainder rule of scikit-learn's ``_approximate_mode``: the
    strata furthest below their own share come first (ties in a random order),
    and each adds at most one group, its lightest passed over (``completions``:
    its position and weight, or None). Each of those weighs more than its
    stratum's shortfall (a lighter one would have been taken), so one round
    covers the total shortfall. A stratum without such a group (it would be
    its last) leaves its shortfall out of the total: the others would overshoot
    their own shares for weight they cannot make up.
    """
    completable = np.array([c is not None for c in completions], dtype=bool)
    deficit = shortfalls[completable].sum()
    # (float sums of row weights: a deficit within rounding of 0 is none)
    tolerance = 1e-9 * target
    if deficit <= tolerance and any(taken.any() for _, _, taken in strata_groups):
        return
    by_shortfall = random_state.permutation(len(shortfalls))
    by_shortfall = by_shortfall[np.argsort(-shortfalls[by_shortfall], kind="stable")]
    for s in by_shortfall:
        if completions[s] is None:
            continue
        position, group_weight = completions[s]
        strata_groups[s][2][position] = True
        deficit -= group_weight
        if deficit <= tolerance:
            break


def _fill_within(weights, target):
    """Positions of ``weights`` (in order) to take for a total at most ``target``.

    Each position is taken unless it would overshoot the target.
    """
    taken = np.zeros(len(weights), dtype=bool)
    remaining = np.arange(len(weights))
    deficit = target
    while remaining.size:
        # of the groups that fit, the longest prefix whose total stays within it
        remaining = remaining[weights[remaining] <= deficit]
        total = np.cumsum(weights[remaining])
        n = int(np.searchsorted(total, deficit, side="right"))
        if n == 0:
            break
        taken[remaining[:n]] = True
        deficit -= total[n - 1]
        remaining = remaining[n:]
    return taken


def _lightest_passed_over(weights, taken):
    """``(position, weight)`` of the lightest position not taken (the first of
    equals), or None if it would be the last one left."""
    passed_over = np.flatnonzero(~taken)
    if len(passed_over) < 2:
        return None
    position = passed_over[np.argmin(weights[passed_over])]
    return position, weights[position]


def _fill(weights, target):
    """Positions of ``weights`` (in order) to take for a total close to ``target``:
    ``validation_split``'s rule for a single stratum.

    Each position is taken unless it would overshoot the target; if the total
    then falls short, the lightest position passed over (the first of equals)
    is added, unless it is the last one left.
    """
    taken, shortfall, completion = _stratum_share(weights, target)
    _complete([(None, None, taken)], [completion], np.array([shortfall]), target,
              np.random.RandomState(0))  # (one stratum: no ties to draw)
    return taken


def _stratum_share(weights, target):
    """A stratum's part of the split: the positions of ``weights`` taken within
    ``target`` (:func:`_fill_within`), the shortfall left, and the group that
    may complete it (:func:`_lightest_passed_over`)."""
    taken = _fill_within(weights, target)
    return (taken, target - weights[taken].sum(),
            _lightest_passed_over(weights, taken))


class Minibatches:
    """Consecutive minibatches of the training rows, each one contiguous in memory.

    In a shuffled epoch the rows of each minibatch are gathered into buffers
    allocated once per fit: the network reads contiguous memory, and the training
    set is never copied whole (a copy per epoch would double the memory of a fit).

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_outputs)
    sample_weight : ndarray of shape (n_samples,) or None
    batch_rows : int

    Examples
    --------
    >>> import numpy as np
    >>> X, Y = np.arange(10.0).reshape(5, 2), np.arange(5.0).reshape(5, 1)
    >>> batches = Minibatches(X, Y, None, batch_rows=2)
    >>> [Yb.ravel().tolist() for _, Yb, _ in batches.epoch(np.array([4, 3, 2, 1, 0]))]
    [[4.0, 3.0], [2.0, 1.0], [0.0]]
    """

    def __init__(self, X, Y, sample_weight, batch_rows):
        self.X, self.Y, self.sample_weight = X, Y, sample_weight
        self.batch_rows = batch_rows
        # each allocated at its first use: a full batch in stored order
        # gathers no rows (an L-BFGS fit would hold a second X, never written)
        self._X_buffer = self._Y_buffer = None
        self._whole = None

    def _buffer(self, name, columns):
        """The gathering buffer ``name`` of ``batch_rows`` rows, in X's dtype
        (targets too: class indicators are stored compactly as uint8)."""
        buffer = getattr(self, name)
        if buffer is None:
            buffer = np.empty((self.batch_rows, columns), dtype=self.X.dtype)
            setattr(self, name, buffer)
        return buffer

    def epoch(self, order=None):
        """Yield ``(X_batch, Y_batch, weight_batch)`` for the rows in ``order``.

        ``order=None`` takes the rows as stored (slices: no copy of ``X``). A
        yielded batch is valid until the next one is requested.
        """
        n, w = self.X.shape[0], self.sample_weight
        if order is None and self.batch_rows >= n:
            # the same objects every epoch: the objective then knows its batch
            # has not changed (and reuses its last evaluation, see Objective)
            if self._whole is None:
                self._whole = (self.X, self._targets(slice(None)), w)
            yield self._whole
            return
        for start in range(0, n, self.batch_rows):
            if order is None:
                rows = slice(start, start + self.batch_rows)
                X_batch = self.X[rows]
            else:
                rows = order[start:start + self.batch_rows]
                X_batch = self.X[rows] if sparse.issparse(self.X) else self._take(
                    self.X, rows, self._buffer("_X_buffer", self.X.shape[1]))
            yield X_batch, self._targets(rows), None if w is None else w[rows]

    def _targets(self, rows):
        Y, dtype = self.Y, self.X.dtype
        if isinstance(rows, slice):
            if Y.dtype == dtype:
                return Y[rows]
            Y_rows = Y[rows]
        elif Y.dtype == dtype:
            return self._take(Y, rows, self._buffer("_Y_buffer", Y.shape[1]))
        else:
            Y_rows = np.take(Y, rows, axis=0, mode="clip")
        out = self._buffer("_Y_buffer", Y.shape[1])[:Y_rows.shape[0]]
        np.copyto(out, Y_rows)
        return out

    @staticmethod
    def _take(A, rows, buffer):
        # mode="clip": the rows are valid, and "raise" would buffer a copy
        return np.take(A, rows, axis=0, out=buffer[:len(rows)], mode="clip")
