"""``python -m skopt_nn compare``: the runs, the files written, bad arguments."""

import csv
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skopt_nn import MLPClassifier, MLPRegressor
from skopt_nn import _report
from skopt_nn.__main__ import build_parser, main
from skopt_nn.diagnostics import hessian, hessian_eigenvalues
from skopt_nn.solvers import SGD

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _cli(capsys, *args):
    """Run the command in-process: (exit code, stdout, stderr)."""
    try:
        code = main(["compare", "-q", *args])
    except SystemExit as exit_:  # argparse's errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


@pytest.fixture
def iris_csv(tmp_path):
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])
    return _write_csv(tmp_path / "iris.csv", ["a", "b", "species", "c", "d"],
                      [[*x[:2], names[t], *x[2:]] for x, t in zip(X, y)])


# ------------------------------------------------------------------ the runs
def test_default_dataset_run_matches_an_independent_fit(tmp_path, capsys):
    code, out, _ = _cli(capsys, "--max-iter", "3", "--solvers", "sgd", "adam",
                        "--out", str(tmp_path))
    assert code == 0
    rows = _read_csv(tmp_path / "results.csv")
    assert [(r["solver"], r["batch_norm"]) for r in rows] == [
        ("sgd", "False"), ("sgd", "True"), ("adam", "False"), ("adam", "True")]
    # the same split, scaling, network and seed, built here by hand
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for row in rows:
            clf = MLPClassifier((64,), solver=row["solver"],
                                batch_norm=row["batch_norm"] == "True", max_iter=3,
                                random_state=0).fit(scaler.transform(X_train), y_train)
            # the same arithmetic (up to BLAS summation order: the command runs
            # on one BLAS thread)
            assert float(row["train_loss"]) == pytest.approx(clf.loss_, rel=1e-10)
            assert float(row["test_accuracy"]) == clf.score(
                scaler.transform(X_test), y_test)
            assert row["epochs"] == "3" and row["diverged"] == "False"
    table = out.splitlines()
    header = next(line for line in table if line.startswith("solver"))
    assert header.split() == ["solver", "BN", "learning", "rate", "train", "loss",
                              "test", "accuracy", "epochs", "seconds", "diverged"]
    assert sum(line.startswith(("sgd ", "adam ")) for line in table) == 4
    assert f"Report: {(tmp_path / 'index.html').resolve()}" in out
    # no curvature columns without --curvature
    assert list(rows[0]) == ["solver", "batch_norm", "learning_rate", "train_loss",
                             "test_accuracy", "epochs", "seconds", "diverged"]
    assert "lambda_max" not in (tmp_path / "index.html").read_text()


def test_report_files_hold_curves_and_embedded_images(tmp_path, capsys):
    code, _, _ = _cli(capsys, "--max-iter", "4", "--solvers", "momentum",
                      "--dataset", "iris", "--out", str(tmp_path))
    assert code == 0
    for name in ("loss_vs_epoch.png", "loss_vs_seconds.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG_SIGNATURE)
    curves = _read_csv(tmp_path / "curves.csv")
    assert [int(r["epoch"]) for r in curves] == [1, 2, 3, 4] * 2
    seconds = [float(r["seconds"]) for r in curves[:4]]
    assert all(b > a for a, b in zip(seconds, seconds[1:]))  # cumulative
    page = (tmp_path / "index.html").read_text()
    assert page.count("src='data:image/png;base64,") == 2
    assert "src='http" not in page and "<link" not in page  # self-contained


def test_report_page_marks_the_best_test_score(tmp_path, capsys):
    code, _, _ = _cli(capsys, "--max-iter", "20", "--solvers", "sgd", "adam",
                      "--bn", "off", "--dataset", "iris", "--out", str(tmp_path))
    assert code == 0
    scores = [float(r["test_accuracy"]) for r in _read_csv(tmp_path / "results.csv")]
    assert len(set(scores)) == 2  # (one best)
    page = (tmp_path / "index.html").read_text()
    assert re.findall(r"<td class='best'>([^<]*)</td>", page) == [f"{max(scores):.4f}"]


def test_tune_ranks_by_the_documented_scores(monkeypatch, tmp_path, capsys):
    # the cross-validated log loss, finer than accuracy (which ties on easy
    # data), and the squared error for a regression
    scorings, search = [], _report.GridSearchCV

    def recording(*args, **kwargs):
        scorings.append(kwargs["scoring"])
        return search(*args, **kwargs)

    monkeypatch.setattr(_report, "GridSearchCV", recording)
    for dataset in ("iris", "diabetes"):
        code, _, _ = _cli(capsys, "--dataset", dataset, "--solvers", "sgd", "--bn",
                          "off", "--max-iter", "2", "--tune", "--out", str(tmp_path))
        assert code == 0
    assert scorings == ["neg_log_loss", "neg_mean_squared_error"]


def test_report_without_matplotlib_keeps_tables_and_html(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    code, out, _ = _cli(capsys, "--max-iter", "2", "--solvers", "sgd", "--bn", "off",
                        "--dataset", "iris", "--out", str(tmp_path))
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "curves.csv", "index.html", "results.csv"]
    assert "matplotlib is not installed" in out
    page = (tmp_path / "index.html").read_text()
    assert "Install matplotlib for the loss curves" in page


def test_a_new_report_without_matplotlib_removes_the_old_curves(monkeypatch, tmp_path,
                                                                 capsys):
    # the earlier report's PNGs stood beside new tables, and a page saying
    # "Install matplotlib"
    assert _cli(capsys, "--max-iter", "2", "--solvers", "sgd", "--bn", "off",
                "--dataset", "iris", "--out", str(tmp_path))[0] == 0
    assert (tmp_path / "loss_vs_epoch.png").exists()
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert _cli(capsys, "--max-iter", "2", "--solvers", "sgd", "--bn", "off",
                "--dataset", "iris", "--out", str(tmp_path))[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "curves.csv", "index.html", "results.csv"]


def test_a_report_that_cannot_be_written_keeps_the_table_and_writes_nothing(
        tmp_path, capsys):
    # the error came after every run and lost the table; the CSVs were written
    # beside a directory named index.html
    (tmp_path / "index.html").mkdir()
    code, out, err = _cli(capsys, "--max-iter", "2", "--solvers", "sgd", "--bn",
                          "off", "--dataset", "iris", "--out", str(tmp_path))
    assert code == 2 and "index.html is a directory" in err
    assert "sgd     no" in out  # the table was printed before writing
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def test_a_report_cut_short_leaves_no_earlier_page_beside_its_files(
        monkeypatch, tmp_path, capsys):
    args = ("--max-iter", "2", "--solvers", "sgd", "--bn", "off", "--dataset",
            "iris", "--out", str(tmp_path))
    assert _cli(capsys, *args)[0] == 0 and (tmp_path / "index.html").exists()
    real_write, writes = _report.Path.write_bytes, []

    def write_then_interrupt(path, data):
        writes.append(path.name)
        if len(writes) == 2:
            raise KeyboardInterrupt
        return real_write(path, data)

    monkeypatch.setattr(_report.Path, "write_bytes", write_then_interrupt)
    assert _cli(capsys, *args)[0] == 130
    assert not (tmp_path / "index.html").exists()


def test_ctrl_c_while_the_report_is_written_is_reported(monkeypatch, tmp_path, capsys):
    # it escaped as a KeyboardInterrupt traceback, the table unprinted
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_report, "plot_curves", interrupted)
    code, out, _ = _cli(capsys, "--max-iter", "2", "--solvers", "sgd", "--bn", "off",
                        "--dataset", "iris", "--out", str(tmp_path))
    assert code == 130
    assert "sgd     no" in out and "Interrupted while writing the report" in out
    assert list(tmp_path.iterdir()) == []  # rendered before any file is written


def test_csv_input_with_string_labels_is_classification(iris_csv, tmp_path, capsys):
    code, out, _ = _cli(capsys, "--dataset", iris_csv, "--target", "species",
                        "--solvers", "adam", "--bn", "off", "--max-iter", "5",
                        "--out", str(tmp_path))
    assert code == 0
    assert "iris.csv (classification, 112 training and 38 test rows, 4 features)" in out
    (row,) = _read_csv(tmp_path / "results.csv")
    assert 0 <= float(row["test_accuracy"]) <= 1


def test_csv_input_with_many_numeric_values_is_regression(tmp_path, capsys):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((80, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.1 * rng.standard_normal(80)
    path = _write_csv(tmp_path / "reg.csv", ["x1", "x2", "x3", "y"],
                      np.column_stack([X, y]).tolist())
    code, out, _ = _cli(capsys, "--dataset", path, "--target", "y", "--solvers",
                        "sgd", "--bn", "off", "--hidden", "--max-iter", "500",
                        "--out", str(tmp_path / "report"))
    assert code == 0
    (row,) = _read_csv(tmp_path / "report" / "results.csv")
    # a linear target and no hidden layer: a good fit whatever the scale of y
    assert float(row["test_r2"]) > 0.95


def test_npz_input_reads_X_and_y(tmp_path, capsys):
    X, y = load_iris(return_X_y=True)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    code, out, _ = _cli(capsys, "--dataset", str(tmp_path / "data.npz"),
                        "--solvers", "sgd", "--bn", "on", "--max-iter", "2",
                        "--out", str(tmp_path))
    assert code == 0
    assert "data.npz (classification, 112 training" in out


def test_regression_dataset_scores_r2_of_an_independent_fit(tmp_path, capsys):
    from sklearn.datasets import load_diabetes

    code, _, _ = _cli(capsys, "--dataset", "diabetes", "--solvers", "adam", "--bn",
                      "off", "--max-iter", "10", "--out", str(tmp_path))
    assert code == 0
    (row,) = _read_csv(tmp_path / "results.csv")
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25,
                                                        random_state=0)
    scaler = StandardScaler().fit(X_train)
    mean, std = y_train.mean(), y_train.std()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = MLPRegressor((64,), solver="adam", max_iter=10, random_state=0).fit(
            scaler.transform(X_train), (y_train - mean) / std)
    # R^2 does not depend on the target's scale
    assert float(row["test_r2"]) == pytest.approx(
        reg.score(scaler.transform(X_test), (y_test - mean) / std), rel=1e-12)


def test_tune_picks_the_grid_search_learning_rate(tmp_path, capsys):
    code, _, _ = _cli(capsys, "--dataset", "iris", "--solvers", "sgd", "--bn", "off",
                      "--max-iter", "20", "--tune", "--out", str(tmp_path))
    assert code == 0
    (row,) = _read_csv(tmp_path / "results.csv")
    X, y = load_iris(return_X_y=True)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=0,
                                              stratify=y)
    search = GridSearchCV(
        Pipeline([("scale", StandardScaler()),
                  ("mlp", MLPClassifier((64,), solver=SGD(), max_iter=20,
                                        random_state=0))]),
        {"mlp__solver__learning_rate": [0.001, 0.003, 0.01, 0.03, 0.1]},
        scoring="neg_log_loss", cv=StratifiedKFold(3, shuffle=True, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X_train, y_train)
    assert float(row["learning_rate"]) == pytest.approx(
        search.best_params_["mlp__solver__learning_rate"], rel=1e-12)


def test_diverged_run_is_reported_and_its_epoch_left_out(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(_report, "resolve_solver", lambda name: SGD(learning_rate=1e4))
    code, out, _ = _cli(capsys, "--solvers", "sgd", "--bn", "off", "--max-iter", "5",
                        "--out", str(tmp_path))
    assert code == 0
    (row,) = _read_csv(tmp_path / "results.csv")
    assert row["diverged"] == "True"
    n_curve = sum(1 for _ in _read_csv(tmp_path / "curves.csv"))
    assert n_curve == int(row["epochs"]) < 5


class _BlowsUpOnce(SGD):
    """A full-batch solver whose first step scales the parameters up 30 times,
    and which then stops: the fit ends far above its starting loss."""

    full_batch = True

    def step(self, theta, objective, state):
        loss, _ = objective(theta)
        if state["step"] == 0:
            theta *= 30.0
        state["step"] += 1
        state["converged"] = state["step"] > 1
        return loss


def test_a_run_that_ends_far_above_its_starting_loss_is_reported(monkeypatch, tmp_path,
                                                                   capsys):
    # the estimator restores its starting parameters without a diverged epoch
    # in history_; the table said "no"
    monkeypatch.setattr(_report, "resolve_solver", lambda name: _BlowsUpOnce())
    code, out, _ = _cli(capsys, "--solvers", "sgd", "--bn", "off", "--max-iter", "5",
                        "--out", str(tmp_path))
    assert code == 0
    (row,) = _read_csv(tmp_path / "results.csv")
    assert row["diverged"] == "True" and row["epochs"] == "2"


# --------------------------------------------------------------- curvature
def test_curvature_is_the_largest_hessian_eigenvalue_of_the_fit(tmp_path, capsys):
    code, out, _ = _cli(capsys, "--dataset", "iris", "--solvers", "sgd", "lbfgs",
                        "--max-iter", "5", "--curvature", "--out", str(tmp_path))
    assert code == 0
    rows = _read_csv(tmp_path / "results.csv")
    assert list(rows[0])[-2:] == ["lambda_max", "critical_lr"]
    header = next(line for line in out.splitlines() if line.startswith("solver"))
    assert header.split()[-4:] == ["diverged", "lambda_max", "critical", "lr"]
    assert "<th>lambda_max</th><th>critical lr</th>" in (
        tmp_path / "index.html").read_text()
    X, y = load_iris(return_X_y=True)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=0,
                                              stratify=y)
    X_train = StandardScaler().fit_transform(X_train)
    for row in rows:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = MLPClassifier((64,), solver=row["solver"],
                                batch_norm=row["batch_norm"] == "True", max_iter=5,
                                random_state=0).fit(X_train, y_train)
        lambda_max = float(row["lambda_max"])
        # the same measurement (up to BLAS summation order) ...
        assert lambda_max == pytest.approx(hessian_eigenvalues(
            clf, X_train, y_train, k=1, which="largest", tol=1e-3,
            random_state=0)[0], rel=1e-8)
        # ... and the whole spectrum's top, within the tolerance asked for
        top = np.linalg.eigvalsh(hessian(clf, X_train, y_train))[-1]
        assert lambda_max == pytest.approx(top, rel=1e-3)
        assert float(row["critical_lr"]) == 2 / lambda_max
    # the printed table's last two columns: lambda_max and 2 / lambda_max
    printed = [line.split() for line in out.splitlines()
               if line.split()[:1] in (["sgd"], ["lbfgs"])]
    assert len(printed) == len(rows)
    for fields, row in zip(printed, rows):
        lambda_max = float(row["lambda_max"])
        assert fields[-2:] == [f"{lambda_max:.4g}", f"{2 / lambda_max:.3g}"]


def test_curvature_of_a_linear_regression_is_that_of_its_normal_equations(
        tmp_path, capsys):
    from sklearn.datasets import load_diabetes

    code, _, _ = _cli(capsys, "--dataset", "diabetes", "--solvers", "adam", "--bn",
                      "off", "--hidden", "--max-iter", "3", "--curvature",
                      "--out", str(tmp_path))
    assert code == 0
    (row,) = _read_csv(tmp_path / "results.csv")
    X, y = load_diabetes(return_X_y=True)
    X_train = StandardScaler().fit_transform(
        train_test_split(X, y, test_size=0.25, random_state=0)[0])
    n, d = X_train.shape
    # squared error / 2 and the penalty alpha / (2 n) ||W||^2: a quadratic whose
    # Hessian is [X 1]^T [X 1] / n, plus alpha / n on the weights, wherever the
    # fit stopped
    X1 = np.hstack([X_train, np.ones((n, 1))])
    H = X1.T @ X1 / n + np.diag(np.r_[np.full(d, MLPRegressor().alpha / n), 0.0])
    assert float(row["lambda_max"]) == pytest.approx(np.linalg.eigvalsh(H)[-1],
                                                     rel=1e-3)


def test_curvature_of_a_diverged_run_is_that_of_its_restored_parameters(
        monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(_report, "resolve_solver", lambda name: SGD(learning_rate=1e4))
    code, _, _ = _cli(capsys, "--dataset", "iris", "--solvers", "sgd", "--bn", "off",
                      "--max-iter", "5", "--curvature", "--out", str(tmp_path))
    assert code == 0
    (row,) = _read_csv(tmp_path / "results.csv")
    assert row["diverged"] == "True"
    # the estimator restored finite parameters: measured there, and the reason
    # for the divergence shows (a learning rate far above 2 / lambda_max)
    assert np.isfinite(float(row["lambda_max"]))
    assert float(row["critical_lr"]) < float(row["learning_rate"])


def test_curvature_that_cannot_be_computed_is_nan(monkeypatch, tmp_path, capsys):
    def one_restart(*args, **kwargs):  # ARPACK cannot converge in time
        return hessian_eigenvalues(*args, **{**kwargs, "tol": 0.0, "max_iter": 1})

    monkeypatch.setattr(_report, "hessian_eigenvalues", one_restart)
    code, out, _ = _cli(capsys, "--dataset", "iris", "--solvers", "sgd", "--bn", "off",
                        "--max-iter", "2", "--curvature", "--out", str(tmp_path))
    assert code == 0
    (row,) = _read_csv(tmp_path / "results.csv")
    assert row["lambda_max"] == row["critical_lr"] == "nan"
    line = next(line for line in out.splitlines() if line.startswith("sgd "))
    assert line.split()[-2:] == ["nan", "nan"]


def test_curvature_of_non_finite_parameters_is_nan():
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier((4,), max_iter=2, random_state=0).fit(X, y)
    clf.coefs_[0][0, 0] = np.inf
    assert np.isnan(_report._largest_curvature(clf, X, y, seed=0))


# ----------------------------------------------------------------- Ctrl-C
def test_ctrl_c_keeps_the_finished_runs(monkeypatch, tmp_path, capsys):
    real_run, calls = _report._run, []

    def run_then_interrupt(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_run(*args)

    monkeypatch.setattr(_report, "_run", run_then_interrupt)
    code, out, _ = _cli(capsys, "--solvers", "sgd", "adam", "--max-iter", "2",
                        "--dataset", "iris", "--out", str(tmp_path))
    assert code == 130
    assert "Interrupted: 2 of 4 runs finished." in out
    rows = _read_csv(tmp_path / "results.csv")
    assert [(r["solver"], r["batch_norm"]) for r in rows] == [
        ("sgd", "False"), ("sgd", "True")]
    assert "Interrupted: 2 of 4 runs finished." in (tmp_path / "index.html").read_text()


def _interrupt_at_step(monkeypatch, at):
    """Ctrl-C (a real SIGINT, in the main thread) during the ``at``-th step of
    training, counting all runs; returns the list of steps taken."""
    import signal

    steps, real_step = [], _report.Progress.step

    def step_then_interrupt(self, step, loss):
        steps.append(step)
        real_step(self, step, loss)
        if len(steps) == at:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(_report.Progress, "step", step_then_interrupt)
    return steps


@pytest.mark.usefixtures("python_sigint_handler")
def test_ctrl_c_inside_a_fit_stops_the_comparison(monkeypatch, tmp_path, capsys):
    # the estimator catches the KeyboardInterrupt of its fit and returns, as
    # scikit-learn's does: the comparison went on with the next runs, exit 0
    import signal

    steps = _interrupt_at_step(monkeypatch, 10)  # 8 steps in sgd, then sgd +BN
    code, out, _ = _cli(capsys, "--solvers", "sgd", "adam", "--max-iter", "2",
                        "--batch-size", "32", "--dataset", "iris", "--out",
                        str(tmp_path))
    assert code == 130
    assert "Interrupted: 1 of 4 runs finished." in out
    assert len(steps) == 10  # nothing trained after Ctrl-C
    assert [(r["solver"], r["batch_norm"]) for r in _read_csv(
        tmp_path / "results.csv")] == [("sgd", "False")]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert not _report._INTERRUPTED.is_set()


@pytest.mark.usefixtures("python_sigint_handler")
def test_ctrl_c_during_tuning_stops_the_search_at_once(monkeypatch, tmp_path, capsys):
    steps = _interrupt_at_step(monkeypatch, 3)  # the search's first fit
    code, out, _ = _cli(capsys, "--solvers", "sgd", "--bn", "off", "--tune",
                        "--max-iter", "2", "--dataset", "iris", "--out",
                        str(tmp_path))
    assert code == 130
    assert "Interrupted before any run finished" in out
    assert len(steps) == 3  # the search's later fits stopped at their first step


def test_ctrl_c_during_tuning_under_another_sigint_handler_stops(monkeypatch,
                                                                 tmp_path, capsys):
    # with a handler of the user's, the comparison installs none: the fits'
    # warning tells (the search's warnings were ignored, Ctrl-C with them)
    import signal

    def users_handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, users_handler)
    try:
        _interrupt_at_step(monkeypatch, 3)
        code, out, _ = _cli(capsys, "--solvers", "sgd", "--bn", "off", "--tune",
                            "--max-iter", "2", "--dataset", "iris", "--out",
                            str(tmp_path))
        assert signal.getsignal(signal.SIGINT) is users_handler
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 130
    assert "Interrupted before any run finished" in out


# ---------------------------------------------------------------- progress
def test_quiet_run_writes_nothing_on_stderr(tmp_path, capsys):
    code, _, err = _cli(capsys, "--solvers", "sgd", "--max-iter", "2",
                        "--dataset", "iris", "--out", str(tmp_path))
    assert code == 0 and err == ""


def test_progress_logs_every_run_on_a_non_terminal_stream():
    import io

    stream = io.StringIO()
    comparison = _report.compare(_report.load_dataset("iris"), ["sgd", "nesterov"],
                                 settings=_report.Settings(max_iter=3),
                                 progress=_report.Progress(stream, delay=0))
    assert [line.split(":")[0] for line in stream.getvalue().splitlines()] == [
        "[1/4] sgd", "[2/4] sgd +BN", "[3/4] nesterov", "[4/4] nesterov +BN"]
    assert len(comparison.runs) == 4


def test_solver_warnings_reach_the_progress_stream():
    import io

    stream = io.StringIO()
    settings = _report.Settings(hidden=(4,), batch_size=8, max_iter=1)
    _report.compare(_report.load_dataset("iris"), ["newton"], batch_norm=(False,),
                    settings=settings, progress=_report.Progress(stream, delay=0))
    # Newton's check_batch: 8 rows x 3 outputs cannot determine 35 parameters
    assert "newton: Newton receives minibatches of 8 of 112 rows" in stream.getvalue()


# ------------------------------------------------------------ bad arguments
def _bad_csv(tmp_path):
    return _write_csv(tmp_path / "bad.csv", ["size", "color", "label"],
                      [[1.0, 0.5, "a"], [2.0, "red", "b"]])


BAD_ARGUMENTS = {
    "unknown solver": (["--solvers", "sgd", "bogus"], "unknown solver 'bogus'"),
    "unknown dataset": (["--dataset", "nosuch"], "unknown dataset 'nosuch'"),
    "missing file": (["--dataset", "{tmp}/absent.csv", "--target", "y"],
                     "no such file"),
    "missing target column": (["--dataset", "{iris}", "--target", "kind"],
                              "has no column 'kind'; its columns are: a, b, "
                              "species, c, d"),
    "csv without target": (["--dataset", "{iris}"], "a CSV file needs --target"),
    "non-numeric data": (["--dataset", "{bad}", "--target", "label"],
                         "bad.csv, line 3: column 'color' is not numeric ('red')"),
    "target on bundled data": (["--target", "y"], "--target is for CSV and .npz"),
    "npz without target array": (["--dataset", "{npz}"], "has no array 'y'"),
    "non-positive max-iter": (["--max-iter", "0"], "expected a positive integer"),
    "negative blas threads": (["--blas-threads", "-1"], "expected an integer >= 0"),
    "batch norm without hidden layer": (["--hidden", "--bn", "on"],
                                        "batch normalization needs a hidden layer"),
    "negative seed": (["--seed", "-1"], "argument --seed: expected an integer from 0"),
    "not utf-8": (["--dataset", "{latin1}", "--target", "y"],
                  "latin1.csv is not UTF-8 text"),
    "missing-value mark in a numeric target": (
        ["--dataset", "{na}", "--target", "y"],
        "na.csv, line 4: the target 'y' is not numeric ('NA'); 5 of its 6 cells "
        "are numbers"),
    "string target of a regression": (
        ["--dataset", "{iris}", "--target", "species", "--task", "regression"],
        "iris.csv, line 2: the target 'species' is not numeric ('setosa'); a "
        "regression needs numbers"),
    "continuous target as classes": (
        ["--dataset", "{continuous}", "--target", "y", "--task", "classification"],
        "8 of its 8 classes have a single row (such as '0.5')"),
    "not an npz archive": (["--dataset", "{not_npz}"],
                           "cannot read junk.npz: not a .npz archive"),
    "bundled dataset of the other task": (
        ["--dataset", "diabetes", "--task", "classification"],
        "'diabetes' is a regression dataset, not classification"),
}


@pytest.mark.parametrize("case", BAD_ARGUMENTS)
def test_bad_argument_exits_2_with_one_line(case, iris_csv, tmp_path, capsys):
    args, message = BAD_ARGUMENTS[case]
    np.savez(tmp_path / "features.npz", X=np.zeros((4, 2)), labels=np.arange(4))
    (tmp_path / "latin1.csv").write_bytes(b"a,y\n1,caf\xe9\n2,x\n")
    (tmp_path / "junk.npz").write_text("not an archive")
    paths = {"tmp": tmp_path, "iris": iris_csv, "bad": _bad_csv(tmp_path),
             "npz": tmp_path / "features.npz", "latin1": tmp_path / "latin1.csv",
             "not_npz": tmp_path / "junk.npz",
             "na": _write_csv(tmp_path / "na.csv", ["x", "y"],
                              [[k, v] for k, v in enumerate(
                                  [1.5, 2.5, "NA", 4.5, 5.5, 6.5])]),
             "continuous": _write_csv(tmp_path / "continuous.csv", ["x", "y"],
                                      [[k, k + 0.5] for k in range(8)])}
    code, out, err = _cli(capsys, *[a.format(**paths) for a in args],
                          "--out", str(tmp_path / "report"))
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("skopt-nn compare: error: ")
    assert out == "" and not (tmp_path / "report").exists()


def test_the_bounds_of_numeric_arguments_are_accepted():
    # --blas-threads 0 is the BLAS default; seeds run up to 2**32 - 1
    args = build_parser().parse_args(["compare", "--blas-threads", "0",
                                      "--seed", str(2**32 - 1)])
    assert args.blas_threads == 0 and args.seed == 2**32 - 1


@pytest.mark.parametrize("y, task", [
    (np.array([0.5, 1.5, 2.5] * 4), "regression"),  # few values, not integers
    (np.arange(40) % 20, "classification"),  # 20 integer values: classes
    (np.arange(42) % 21, "regression"),  # 21: a quantity
    (np.array(["a", "b"] * 3), "classification"),
])
def test_a_files_task_is_inferred_from_its_target_as_documented(y, task):
    assert _report._file_task(y, "auto", "data.csv") == task


def test_tune_takes_classes_of_exactly_its_folds_rows():
    dataset = _report.Dataset("data", np.zeros((9, 2)), np.repeat([0, 1, 2], 3),
                              "classification")
    _report._check_tunable(dataset, dataset.y)  # 3 rows of each class: enough
    with pytest.raises(_report.UsageError, match="a class with 2"):
        _report._check_tunable(dataset, dataset.y[1:])


def test_bn_on_and_repeated_solvers_run_each_setting_once(tmp_path, capsys):
    code, _, _ = _cli(capsys, "--dataset", "iris", "--solvers", "sgd", "sgd",
                      "--bn", "on", "--max-iter", "2", "--out", str(tmp_path))
    assert code == 0
    assert [(r["solver"], r["batch_norm"]) for r in _read_csv(
        tmp_path / "results.csv")] == [("sgd", "True")]


@pytest.mark.parametrize("out", ["a_file", "a_file/report"])
def test_bad_report_directory_fails_before_any_run(out, tmp_path, capsys, monkeypatch):
    (tmp_path / "a_file").write_text("")
    monkeypatch.setattr(_report, "compare", None)  # no run may start
    code, _, err = _cli(capsys, "--dataset", "iris", "--out", str(tmp_path / out))
    assert code == 2 and err.count("\n") == 1
    assert ("is a file, not a directory" if out == "a_file"
            else "cannot create the report directory") in err


def test_module_entry_point_exits_2_on_bad_solver():
    result = subprocess.run([sys.executable, "-m", "skopt_nn", "compare", "--solvers",
                             "bogus"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "unknown solver 'bogus': choose from " + ", ".join(
            _report.SOLVER_ALIASES) + " (see --help)")


# --test-size takes a fraction in the open interval (0, 1): 0 (no test rows,
# no test score) and 1 are usage errors (exit 2, one line), 0.25 and 1e-3 pass.
@pytest.mark.parametrize("text", ["0", "0.0", "1", "-0.1", "abc"])
def test_out_of_range_test_size_is_a_usage_error(text, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["compare", "--test-size", text])
    assert exit_info.value.code == 2
    assert "expected a number in (0, 1)" in capsys.readouterr().err


@pytest.mark.parametrize("text, value", [("0.25", 0.25), ("0.001", 0.001)])
def test_fractions_inside_are_accepted(text, value):
    assert build_parser().parse_args(["compare", "--test-size", text]).test_size == value
