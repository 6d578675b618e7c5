"""skopt_nn against scikit-learn's MLP, side by side in one process: one table.

Usage (from the repository root)::

    make bench                          # full run, about 4 minutes on 2 cores
    make bench-quick                    # --quick: about 2 minutes
    python benchmarks/run.py --only partial_fit,predict

Sections (``--only`` takes a comma-separated subset):

epochs       milliseconds per epoch of ``fit`` (fit time / epochs run) on each
             workload, the GEMM floor of that epoch (its layer matrix products
             alone, best of 1 thread and the default threads), achieved GFLOP/s,
             and the accuracy (R^2 for the regressor) of both fitted models
lbfgs        L-BFGS milliseconds per iteration, full batch (when skopt_nn has it)
predict      predict and predict_proba on 10,000 rows, predict_proba on one row
partial_fit  microseconds per partial_fit call of 32 rows; milliseconds per call of
             all rows in a worker thread
memory       peak memory of a one-epoch fit (tracemalloc)
solvers      each skopt_nn solver's time per step relative to SGD's
second_order Newton's time per step against the parameter count (exact and
             Hessian-free regimes), with L-BFGS per iteration alongside

Ratios are skopt_nn / scikit-learn (below 1: skopt_nn is faster or smaller).
Competitors alternate repetition by repetition and medians are reported, so a
short burst of load hits both alike; absolute times still vary, and sustained
load slows most the library running more BLAS threads. Where skopt_nn runs one
BLAS thread, the notes also time both libraries under one process-wide
one-thread limit.
"""

import argparse
import os
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import sklearn.neural_network as sk
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

import skopt_nn
import skopt_nn.solvers as solvers
from skopt_nn._blas import blas_threads_for, training_threads
from skopt_nn._network import Network
from skopt_nn._objective import threaded_shards
from _harness import (GemmFloor, busy_machine_line, environment_lines, interleaved,
                      pair_ratios, peak_memory, seconds)
from _workloads import EPOCH_WORKLOADS, LBFGS_WORKLOAD, load

SECTIONS = ("epochs", "lbfgs", "predict", "partial_fit", "memory", "solvers",
            "second_order")
ACCURACY_TOLERANCE = 0.01


@dataclass
class Row:
    """One line of the table; ``limit`` with ``better`` ("<=" or ">=") is a target.

    ``comparable=False`` (the two fitted models disagree on accuracy) makes a
    target unmet whatever the ratio: a speed-up bought with a different result
    is no speed-up.
    """

    measure: str
    unit: str
    ours: float
    theirs: float = None
    ratio: float = None
    limit: float = None
    better: str = "<="
    notes: str = ""
    comparable: bool = True

    def __post_init__(self):
        if self.ratio is None and self.theirs:
            self.ratio = self.ours / self.theirs

    @property
    def met(self):
        if self.limit is None or self.ratio is None:
            return None
        if not self.comparable:
            return False
        if self.better == "<=":
            return self.ratio <= self.limit
        return self.ratio >= self.limit


# ------------------------------------------------------------------ estimators
def _solver(name):
    if name == "lbfgs":
        return solvers.LBFGS()
    return name


def make_pair(workload, max_iter):
    """Equally configured skopt_nn and scikit-learn estimators for a workload.

    ``tol=0`` and ``n_iter_no_change > max_iter``: both run exactly
    ``max_iter`` epochs (iterations for L-BFGS).
    """
    common = dict(hidden_layer_sizes=workload.hidden, batch_size=workload.batch_size,
                  max_iter=max_iter, tol=0.0, n_iter_no_change=max_iter + 1,
                  random_state=0)
    if workload.is_regression:
        return (skopt_nn.MLPRegressor(solver=_solver(workload.solver), **common),
                sk.MLPRegressor(solver=workload.solver, **common))
    return (skopt_nn.MLPClassifier(solver=_solver(workload.solver), **common),
            sk.MLPClassifier(solver=workload.solver, **common))


def _fit_ms_per_epoch(make, X, y, fitted, key):
    """Fit a fresh estimator; return ms per epoch and keep the model in ``fitted``."""
    estimator = make()
    elapsed, _ = seconds(lambda: estimator.fit(X, y))
    fitted[key] = estimator
    return 1e3 * elapsed / estimator.n_iter_


def _floor_ms(floor):
    """The GEMMs of one epoch, best of one BLAS thread and the default threads."""
    default = floor.epoch_seconds()
    with threadpool_limits(1, user_api="blas"):
        single = floor.epoch_seconds()
    return 1e3 * min(default, single)


def _accuracy_note(ours, theirs, X, y, regression, on_training_rows=False):
    a, b = ours.score(X, y), theirs.score(X, y)
    ok = abs(a - b) <= ACCURACY_TOLERANCE
    name = "R2" if regression else "acc"
    rows = " on the training rows" if on_training_rows else ""
    return f"{name}{rows} {a:.3f}/{b:.3f} ({'agree' if ok else 'DIFFER'})", ok


def _single_thread(fit_ms):
    """``fit_ms`` with every BLAS (and OpenMP) pool of the process on one thread."""
    def run():
        with threadpool_limits(1):
            return fit_ms()
    return run


def _threads_note(workload, layer_units):
    """How skopt_nn's fit of ``workload`` uses threads (as ``_fit_unchecked``)."""
    rows = workload.batch_rows()
    network = Network(layer_units, "relu", "softmax")
    if threaded_shards(network, np.empty((0, 0)), rows, workload.solver == "lbfgs"):
        return "two row shards on two threads, BLAS threads: 1"
    if blas_threads_for(layer_units, rows) == 1:
        return "BLAS threads: 1 (small products)"
    return "BLAS threads: default"


# -------------------------------------------------------------------- sections
def run_epochs(workloads, quick, state):
    rows = []
    for workload in workloads:
        epochs, repeats = workload.epochs[quick], workload.repeats[quick]
        X, y, X_test, y_test = load(workload)
        n_outputs = 1 if workload.is_regression else len(np.unique(y))
        n_outputs = 1 if n_outputs == 2 else n_outputs
        floor = GemmFloor(workload.layer_units(n_outputs), X.shape[0],
                          workload.batch_rows(), workload.dtype)
        ours, theirs = make_pair(workload, 1)
        ours.fit(X[:2000], y[:2000])  # warm-up: imports, first-touch allocation
        theirs.fit(X[:2000], y[:2000])
        fitted = {}
        # scikit-learn's L-BFGS runs SciPy's L-BFGS-B, whose BLAS calls go to
        # SciPy's own OpenBLAS: its threads keep spinning for ~0.1 s after the fit
        # and slow the next fit (measured: skopt_nn's L-BFGS 4.6 ms/iter right
        # after it, 3.0 after 0.4 s). The Adam fits use NumPy's BLAS only, whose
        # spinning threads the next fit takes over.
        settle = 0.2 if workload.solver == "lbfgs" else 0.0
        values = {}
        candidates = {
            "ours": lambda: _fit_ms_per_epoch(
                lambda: make_pair(workload, epochs)[0], X, y, fitted, "ours"),
            "theirs": lambda: _fit_ms_per_epoch(
                lambda: make_pair(workload, epochs)[1], X, y, fitted, "theirs"),
            "floor": lambda: _floor_ms(floor),
        }
        threads = _threads_note(workload, floor.units)
        if "BLAS threads: 1" in threads:
            # skopt_nn limits its threads here: both libraries under one limit
            # (one core each: skopt_nn's L-BFGS then evaluates its shards one
            # after the other) tell the implementations apart from their threads
            candidates["theirs_1"] = _single_thread(lambda: _fit_ms_per_epoch(
                lambda: make_pair(workload, epochs)[1], X, y, {}, "theirs_1"))
            candidates["ours_1"] = _single_thread(lambda: _fit_ms_per_epoch(
                lambda: make_pair(workload, epochs)[0], X, y, {}, "ours_1"))
        medians = interleaved(candidates, repeats, settle, values)
        note, agree = _accuracy_note(fitted["ours"], fitted["theirs"], X_test, y_test,
                                     workload.is_regression, X_test is X)
        state["accuracy"].append((workload.name, note, agree))

        def gflops(ms, flops=floor.flops):
            return flops / ms / 1e6

        if not agree:
            note += ": targets not met"
        unit = "ms/iter" if workload.solver == "lbfgs" else "ms/epoch"
        # an iteration evaluates the objective about 1.1 times in both libraries
        per_evaluation = " (one evaluation per iteration)" \
            if workload.solver == "lbfgs" else ""
        same_threads = "" if "theirs_1" not in medians else (
            f"; both on 1 BLAS thread (one core): {medians['ours_1']:.3g}/"
            f"{medians['theirs_1']:.3g} {unit}, ratio "
            f"{medians['ours_1'] / medians['theirs_1']:.2f}")
        rows.append(Row(
            workload.name, unit, medians["ours"], medians["theirs"],
            limit=workload.target, comparable=agree,
            notes=(f"{note}; GFLOP/s{per_evaluation} {gflops(medians['ours']):.1f}/"
                   f"{gflops(medians['theirs']):.1f}; skopt_nn {threads}; "
                   f"{pair_ratios(values['ours'], values['theirs'])}{same_threads}"),
        ))
        if workload.solver != "lbfgs":
            rows.append(Row(
                f"  of GEMM floor ({medians['floor']:.3g} ms, "
                f"{gflops(medians['floor']):.1f} GFLOP/s)", "floor/time",
                medians["floor"] / medians["ours"],
                ratio=medians["floor"] / medians["ours"],
                limit=0.65 if workload.n_samples >= 20_000 and
                not workload.is_regression else None,
                better=">=", comparable=agree,
                notes=f"sklearn {medians['floor'] / medians['theirs']:.2f}",
            ))
        state["epochs"][workload.name] = medians
        state["models"][workload.name] = (fitted["ours"], fitted["theirs"], X_test)
    # once, in the run that measured both (run_lbfgs and run_predict reuse this)
    names = {workload.name for workload in workloads}
    f32 = state["epochs"].get("60000x784 (256,) adam b256 f32")
    f64 = state["epochs"].get("60000x784 (256,) adam b256 f64")
    if f32 and f64 and {"60000x784 (256,) adam b256 f32",
                        "60000x784 (256,) adam b256 f64"} <= names:
        rows.append(Row("60000x784 float32 / float64 time", "ratio",
                        f32["ours"] / f64["ours"], f32["theirs"] / f64["theirs"],
                        ratio=f32["ours"] / f64["ours"], limit=0.55,
                        comparable=all(agree for name, _, agree in state["accuracy"]
                                       if name.startswith("60000x784")),
                        notes="ratio column: skopt_nn f32/f64"))
    return rows


def run_lbfgs(quick, state):
    if not hasattr(solvers, "LBFGS"):
        return [Row("L-BFGS", "ms/iter", float("nan"),
                    notes="skopt_nn.solvers.LBFGS not available yet")]
    return run_epochs([LBFGS_WORKLOAD], quick, state)


def run_predict(quick, state):
    name = "20000x100 (256,256) adam b200 f64"
    if name not in state["models"]:
        run_epochs([w for w in EPOCH_WORKLOADS if w.name == name], True, state)
    ours, theirs, X = state["models"][name]
    repeats = 7 if quick else 15
    rows = []
    for method, limit in (("predict_proba", 0.9), ("predict", 1.0)):
        values = {}
        medians = interleaved({
            "ours": lambda: 1e3 * seconds(lambda: getattr(ours, method)(X))[0],
            "theirs": lambda: 1e3 * seconds(lambda: getattr(theirs, method)(X))[0],
        }, repeats, values=values)
        rows.append(Row(f"{method}, {X.shape[0]} rows, (256,256) f64", "ms",
                        medians["ours"], medians["theirs"], limit=limit,
                        notes=pair_ratios(values["ours"], values["theirs"])))
    # a service's case: one row per call, where validation dominates
    singles = [X[i:i + 1] for i in range(200)]

    def per_row(estimator):
        start = time.perf_counter()
        for row in singles:
            estimator.predict_proba(row)
        return 1e6 * (time.perf_counter() - start) / len(singles)

    values = {}
    medians = interleaved({"ours": lambda: per_row(ours),
                           "theirs": lambda: per_row(theirs)}, repeats, values=values)
    rows.append(Row("predict_proba, 1 row per call, (256,256) f64", "us/call",
                    medians["ours"], medians["theirs"], limit=1.0,
                    notes=pair_ratios(values["ours"], values["theirs"])))
    return rows


def run_partial_fit(quick, state):
    X, y, _, _ = load(EPOCH_WORKLOADS[0])
    classes = np.unique(y)
    chunks = [(X[i:i + 32], y[i:i + 32]) for i in range(0, len(X) - 31, 32)]
    ours, theirs = make_pair(EPOCH_WORKLOADS[0], 1)
    ours.set_params(batch_size="auto")  # all 32 rows in one step
    theirs.set_params(batch_size="auto")
    ours.partial_fit(*chunks[0], classes=classes)
    theirs.partial_fit(*chunks[0], classes=classes)
    calls = 100 if quick else 300

    def per_call(estimator):
        start = time.perf_counter()
        for k in range(calls):
            estimator.partial_fit(*chunks[k % len(chunks)])
        return 1e6 * (time.perf_counter() - start) / calls

    values = {}
    medians = interleaved({"ours": lambda: per_call(ours),
                           "theirs": lambda: per_call(theirs)}, 5 if quick else 9,
                          values=values)
    # the two streams' models, after the same calls (on the training rows)
    note, agree = _accuracy_note(ours, theirs, X, y, False, on_training_rows=True)
    state["accuracy"].append(("partial_fit, 32 rows per call", note, agree))
    rows = [Row("partial_fit, 32 rows per call, digits (100,)", "us/call",
                medians["ours"], medians["theirs"], limit=0.2, comparable=agree,
                notes=f"{note}; {pair_ratios(values['ours'], values['theirs'])}")]

    # the same models, a pass over all rows per call, run in a worker thread (a
    # thread pool, joblib's threading backend, dask's threaded scheduler): the
    # BLAS limits must hold there too (without them: 23 times slower, measured)
    def epoch_in_thread(estimator):
        start = time.perf_counter()
        pool.submit(estimator.partial_fit, X, y).result()
        return 1e3 * (time.perf_counter() - start)

    values = {}
    with ThreadPoolExecutor(1) as pool:
        medians = interleaved({"ours": lambda: epoch_in_thread(ours),
                               "theirs": lambda: epoch_in_thread(theirs)},
                              5 if quick else 9, values=values)
    rows.append(Row("partial_fit, all rows per call, in a worker thread", "ms/call",
                    medians["ours"], medians["theirs"], limit=1.0,
                    notes=pair_ratios(values["ours"], values["theirs"])))
    return rows


def run_memory(quick):
    rows = []
    X, y, _, _ = load(EPOCH_WORKLOADS[0])
    for estimator in make_pair(EPOCH_WORKLOADS[0], 1):  # one-time imports, caches
        estimator.fit(X[:300], y[:300])
    for workload in EPOCH_WORKLOADS + [LBFGS_WORKLOAD]:
        if workload.solver == "lbfgs" and not hasattr(solvers, "LBFGS"):
            continue
        X, y, _, _ = load(workload)
        ours, theirs = make_pair(workload, 1 if workload.solver != "lbfgs" else 10)
        mine = peak_memory(lambda: ours.fit(X, y))
        other = peak_memory(lambda: theirs.fit(X, y))
        rows.append(Row(f"peak fit memory, {workload.name}", "MB", mine / 1e6,
                        other / 1e6, limit=1.0))
    return rows


def _solver_objects():
    names = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "RMSPropNesterov",
             "Adam", "LBFGS", "Newton"]
    return {n: getattr(solvers, n)() for n in names if hasattr(solvers, n)}


def _digits_objective(hidden):
    """digits, all rows, one network: ``(network, theta0, objective factory)``."""
    from skopt_nn._network import Network
    from skopt_nn._objective import Objective

    X, y, _, _ = load(EPOCH_WORKLOADS[0])
    Y = np.eye(10)[y]
    network = Network([X.shape[1], *hidden, 10], "relu", "softmax")
    theta0 = network.initialize(np.random.RandomState(0), X.dtype)

    def objective(solver):
        # as the estimator sets it up: full-batch solvers reuse evaluations, and
        # split the batch into two row shards (on threads: see _time_steps)
        return Objective(network, alpha=1e-4, remember_last=solver.full_batch,
                         shards=2 if solver.full_batch else 1).set_batch(X, Y)

    return network, theta0, objective


def _time_steps(solver, theta0, make_objective, steps):
    """Milliseconds per step, and per step: gradient evaluations and HVP columns."""
    objective = make_objective(solver)
    products = [0]
    hvp = objective.hvp

    def counted_hvp(theta, v):
        products[0] += 1 if v.ndim == 1 else v.shape[1]
        return hvp(theta, v)

    objective.hvp = counted_hvp
    theta = theta0.copy()
    state = solver.init_state(theta)
    # the estimator's threads for these steps: BLAS, and the shards'
    rows = objective.X.shape[0]
    threaded = threaded_shards(objective.network, objective.X, rows, solver.full_batch)
    with warnings.catch_warnings(), \
            training_threads(objective.network.layer_units, rows, threaded), \
            (ThreadPoolExecutor(1) if threaded else nullcontext()) as executor:
        warnings.simplefilter("ignore")
        objective.executor = executor
        start = time.perf_counter()
        for _ in range(steps):
            solver.step(theta, objective, state)
        ms = 1e3 * (time.perf_counter() - start) / steps
    return ms, objective.n_evaluations / steps, products[0] / steps


def run_solvers(quick):
    """Time per step of each solver on one objective: digits, full batch, (100,)."""
    network, theta0, make_objective = _digits_objective((100,))
    steps = 5 if quick else 20
    chosen = _solver_objects()
    evaluations = {}

    def per_step(name):
        ms, evaluations[name], _ = _time_steps(chosen[name], theta0, make_objective,
                                               steps)
        return ms

    medians = interleaved({name: (lambda n=name: per_step(n)) for name in chosen},
                          3 if quick else 5)
    return [Row(f"{name} step, digits full batch (100,) ({network.n_params} params)",
                "ms/step", ms, ratio=ms / medians["SGD"],
                notes=f"ratio: to SGD; {evaluations[name]:.1f} gradient "
                      "evaluations/step")
            for name, ms in medians.items()]


def run_second_order(quick):
    """Newton's time per step against the parameter count, in both regimes.

    One hidden layer of growing width on digits (all rows): the exact regime
    (Hessian assembled from ``n`` Hessian-vector products and eigendecomposed) up
    to ``max_exact_params``, Hessian-free conjugate gradient above. L-BFGS per
    iteration on the same objectives for comparison, and the exponent ``p`` of
    ``time ~ n^p`` fitted over the exact regime. Times are the mean over the
    first steps from the same initialization.
    """
    if not hasattr(solvers, "Newton"):
        return []
    widths = (4, 16, 32, 100) if quick else (4, 8, 16, 24, 32, 100, 300)
    rows, exact = [], []
    for width in widths:
        network, theta0, make_objective = _digits_objective((width,))
        newton = solvers.Newton()
        regime = "exact" if network.n_params <= newton.max_exact_params \
            else "Hessian-free"
        # an exact step costs the same at every step; a Hessian-free one grows as
        # the gradient shrinks (CG's forcing term): averaged over the first steps
        steps = 2 if regime == "exact" else (5 if quick else 30)
        ms, evaluations, products = _time_steps(newton, theta0, make_objective, steps)
        lbfgs_ms, _, _ = _time_steps(solvers.LBFGS(), theta0, make_objective,
                                     10 if quick else 20)
        if regime == "exact":
            exact.append((network.n_params, ms))
        rows.append(Row(
            f"Newton step, {regime}, {network.n_params} params (hidden {width})",
            "ms/step", ms,
            notes=f"{products:.0f} Hessian-vector products and {evaluations:.1f} "
                  f"gradient evaluations per step; L-BFGS {lbfgs_ms:.3g} ms/iter "
                  f"(Newton / L-BFGS {ms / lbfgs_ms:.0f}x)",
        ))
    if len(exact) >= 2:
        n, ms = np.log(np.array(exact)).T
        slope = np.polyfit(n, ms, 1)[0]
        rows.append(Row("Newton exact regime: time ~ n_params^p", "p", slope,
                        notes=f"fitted over {len(exact)} sizes, "
                              f"{exact[0][0]}-{exact[-1][0]} params"))
    return rows


# ----------------------------------------------------------------------- table
def _fmt(x):
    if x is None:
        return ""
    if isinstance(x, float) and np.isnan(x):
        return "n/a"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


def print_table(rows, header, out=sys.stdout):
    for line in header:
        print(f"# {line}", file=out)
    print(file=out)
    print("| measure | unit | skopt_nn | sklearn | ratio | target | met | notes |",
          file=out)
    print("|---|---|---:|---:|---:|---|---|---|", file=out)
    for r in rows:
        target = "" if r.limit is None else f"{r.better} {r.limit:g}"
        met = {None: "", True: "yes", False: "NO"}[r.met]
        print(f"| {r.measure} | {r.unit} | {_fmt(r.ours)} | {_fmt(r.theirs)} | "
              f"{_fmt(r.ratio)} | {target} | {met} | {r.notes} |", file=out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer epochs and repetitions: about 2 minutes")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections among {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose among {SECTIONS}")
    warnings.simplefilter("ignore", ConvergenceWarning)

    mode = "--quick" if args.quick else "full run"
    header = [f"skopt_nn vs scikit-learn MLP, {mode}"]
    header += environment_lines()
    start = time.perf_counter()
    state = {"accuracy": [], "epochs": {}, "models": {}}
    rows = []
    for section in SECTIONS:
        if section not in sections:
            continue
        if section == "epochs":
            rows += run_epochs(EPOCH_WORKLOADS, args.quick, state)
        elif section == "lbfgs":
            rows += run_lbfgs(args.quick, state)
        elif section == "predict":
            rows += run_predict(args.quick, state)
        elif section == "partial_fit":
            rows += run_partial_fit(args.quick, state)
        elif section == "memory":
            rows += run_memory(args.quick)
        elif section == "solvers":
            rows += run_solvers(args.quick)
        else:
            rows += run_second_order(args.quick)
    header.append(f"total time {time.perf_counter() - start:.0f} s; load average at "
                  "the end " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    ended_busy = busy_machine_line(ended=True)
    if ended_busy:
        header.append(ended_busy)
    print_table(rows, header)
    targets = [r for r in rows if r.met is not None]
    print(f"\ntargets met: {sum(r.met for r in targets)} of {len(targets)}"
          + "".join(f"\n  not met: {r.measure} ({_fmt(r.ratio)}, target {r.better} "
                    f"{r.limit:g})" for r in targets if not r.met))
    if any(line.startswith("WARNING: the machine was busy") for line in header):
        print("WARNING: the targets were judged on a busy machine (see the header): "
              "rerun on a quiet one before trusting them")
    differ = [name for name, _, agree in state["accuracy"] if not agree]
    print(f"accuracy within {ACCURACY_TOLERANCE}: "
          + ("all workloads" if not differ else "NOT on " + ", ".join(differ)))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
