"""``python -m skopt_nn``: a short training run on the digits data."""

import sys
import time


def main(argv=None):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from . import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.25, random_state=0, stratify=y
    )
    start = time.perf_counter()
    clf = MLPClassifier(hidden_layer_sizes=(100,), max_iter=60, random_state=0)
    clf.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    curve = clf.loss_curve_
    print(f"skopt_nn MLPClassifier on load_digits ({clf.solver_!r})")
    print(f"epochs: {clf.n_iter_}   seconds: {seconds:.2f}")
    print(f"loss: first {curve[0]:.4f}  after 10 {curve[min(9, len(curve) - 1)]:.4f}  "
          f"last {curve[-1]:.4f}")
    print(f"test accuracy: {clf.score(X_test, y_test):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
