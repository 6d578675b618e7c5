"""Row-level data handling for training: the validation split and epoch shuffling."""

import numpy as np
from scipy import sparse


def _row_keys(X, Y, random_state):
    """A random key per row that depends only on the row's content (x and y).

    Identical rows get identical keys (each row is reduced the same way), distinct
    rows distinct keys with probability one.
    """
    r_x = random_state.standard_normal(X.shape[1])
    r_y = random_state.standard_normal(Y.shape[1])
    if sparse.issparse(X):
        keys = np.asarray(X.multiply(r_x).sum(axis=1)).ravel()
    else:
        keys = (X * r_x).sum(axis=1)
    return keys + (Y * r_y).sum(axis=1)


def validation_split(X, Y, sample_weight, fraction, strata, random_state):
    """Boolean mask of the rows held out for early stopping.

    Rows are assigned by a random key of their *content*, so repeated rows always
    land on the same side: a row of weight ``k`` and ``k`` copies of it give the
    same split (and no duplicate of a validation row is trained on). Within each
    stratum (class), whole groups of identical rows are taken in key order until
    their weight reaches ``fraction`` of the stratum's weight, never the whole
    stratum.

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
    """
    keys = _row_keys(X, Y, random_state)
    weight = np.ones(len(keys)) if sample_weight is None else sample_weight
    if strata is None:
        strata = np.zeros(len(keys), dtype=int)
    held_out = np.zeros(len(keys), dtype=bool)
    for label in np.unique(strata):
        rows = np.flatnonzero(strata == label)
        unique_keys, group = np.unique(keys[rows], return_inverse=True)
        if len(unique_keys) < 2:
            continue
        group_weight = np.bincount(group, weights=weight[rows])
        target = fraction * group_weight.sum()
        # groups are in (random) key order: take them until the target is reached
        n_taken = int(np.searchsorted(np.cumsum(group_weight), target) + 1)
        n_taken = min(n_taken, len(unique_keys) - 1)
        held_out[rows[group < n_taken]] = True
    return held_out


def take_rows(X, rows, out=None):
    """``X[rows]`` for dense or CSR data, into ``out`` when given (dense only)."""
    if sparse.issparse(X):
        return X[rows]
    if out is None:
        return np.take(X, rows, axis=0)
    return np.take(X, rows, axis=0, out=out)
