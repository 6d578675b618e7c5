"""End to end on a real data set: the default classifier matches scikit-learn's."""

import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

from skopt_nn import MLPClassifier


def test_default_classifier_matches_sklearn_accuracy_on_digits():
    """Same architecture (100 relu units), solver (Adam, 1e-3), epochs and seed.

    The same initial weights and minibatches (see ``test_sklearn_parity``), but
    the two Adams add ``epsilon`` in different places, and 200 epochs amplify
    that difference: the test accuracies must agree within one percentage point.
    """
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16, y, test_size=0.25, random_state=0, stratify=y)
    with warnings.catch_warnings():
        # both may stop at max_iter=200 without meeting tol
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(hidden_layer_sizes=(100,), max_iter=200,
                             random_state=0).fit(X_train, y_train)
        reference = SklearnMLPClassifier(hidden_layer_sizes=(100,), max_iter=200,
                                         random_state=0).fit(X_train, y_train)
    ours_accuracy = ours.score(X_test, y_test)
    reference_accuracy = reference.score(X_test, y_test)
    print(f"\ndigits test accuracy: skopt_nn {ours_accuracy:.4f} "
          f"({ours.n_iter_} epochs), scikit-learn {reference_accuracy:.4f} "
          f"({reference.n_iter_} epochs)")
    assert abs(ours_accuracy - reference_accuracy) <= 0.01
