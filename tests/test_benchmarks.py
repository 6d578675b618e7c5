"""The benchmark's measuring tools (``make bench`` is not run by the test suite).

No timing is asserted: these check what is counted and how, so the benchmark
cannot drift from the library unnoticed.
"""

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import _harness  # noqa: E402
from _harness import gemm_flops, interleaved, pair_ratios  # noqa: E402
import run  # noqa: E402


def test_gemm_flops_counts_forward_weight_gradients_and_deltas_by_hand():
    # units [2, 3, 4] over 5 rows: forward 5x2x3 and 5x3x4 products, the same
    # for the weight gradients, and one delta product (5x4 @ 4x3): 2 m n k each
    forward = 2 * 5 * 2 * 3 + 2 * 5 * 3 * 4
    assert gemm_flops([2, 3, 4], 5) == forward + forward + 2 * 5 * 3 * 4


def test_interleaved_alternates_order_and_returns_medians():
    calls = []

    def candidate(name, values):
        it = iter(values)
        return lambda: calls.append(name) or next(it)

    medians = interleaved({"a": candidate("a", [3.0, 1.0, 2.0]),
                           "b": candidate("b", [10.0, 30.0, 20.0])}, repeats=3)
    assert medians == {"a": 2.0, "b": 20.0}
    assert calls == ["a", "b", "b", "a", "a", "b"]


def test_interleaved_waits_before_each_measurement(monkeypatch):
    sleeps = []
    monkeypatch.setattr(_harness.time, "sleep", sleeps.append)
    interleaved({"a": lambda: 1.0, "b": lambda: 2.0}, repeats=2, settle=0.25)
    assert sleeps == [0.25] * 4


def test_time_steps_counts_evaluations_and_hessian_vector_products():
    network, theta0, make_objective = run._digits_objective((4,))
    newton = run.solvers.Newton()
    assert network.n_params <= newton.max_exact_params
    _, evaluations, products = run._time_steps(newton, theta0, make_objective, 1)
    # the exact regime assembles H from one product per parameter
    assert products == network.n_params
    assert evaluations >= 1


@pytest.mark.slow
def test_second_order_section_covers_both_regimes():
    rows = run.run_second_order(quick=True)
    measures = [r.measure for r in rows]
    assert any(", exact," in m for m in measures)
    assert any("Hessian-free" in m for m in measures)
    exponent = rows[-1]
    assert exponent.unit == "p" and math.isfinite(exponent.ours)
    assert all(np.isfinite(r.ours) and r.ours > 0 for r in rows[:-1])


def test_interleaved_records_every_measurement_and_pair_ratios_span_them():
    values = {}
    it = {"a": iter([1.0, 4.0, 2.0]), "b": iter([2.0, 4.0, 8.0])}
    interleaved({"a": lambda: next(it["a"]), "b": lambda: next(it["b"])},
                repeats=3, values=values)
    assert values == {"a": [1.0, 4.0, 2.0], "b": [2.0, 4.0, 8.0]}
    assert pair_ratios(values["a"], values["b"]) == "pair ratios 0.25-1.00 (3 pairs)"


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_interleaved_orders_give_every_place_and_predecessor_equally(n):
    # Rotating one order put skopt_nn after the same competitor in 5 of 6
    # repetitions (4 candidates), which favoured it by 48% on digits under load
    names = "abcde"[:n]
    calls = []
    cycle = n if n % 2 == 0 else 2 * n
    interleaved({name: (lambda x=name: calls.append(x) or 1.0) for name in names},
                repeats=cycle)
    rounds = [calls[i:i + n] for i in range(0, len(calls), n)]
    assert all(sorted(r) == list(names) for r in rounds)
    places = {(r.index(x), x) for r in rounds for x in names}
    successions = [(a, b) for r in rounds for a, b in zip(r, r[1:])]
    assert len(places) == n * n  # every candidate in every place...
    assert all(sum(r.index(x) == p for r in rounds) == cycle // n
               for p, x in places)  # ... equally often
    assert len(set(successions)) == n * (n - 1)  # every other before each...
    assert len(successions) == (cycle // n) * n * (n - 1)  # ... equally often


def test_a_target_is_not_met_when_the_two_models_disagree_on_accuracy():
    fast = run.Row("w", "ms", 1.0, 10.0, limit=0.5)
    assert fast.met is True
    assert run.Row("w", "ms", 1.0, 10.0, limit=0.5, comparable=False).met is False
    share = run.Row("floor", "floor/time", 0.9, ratio=0.9, limit=0.65, better=">=",
                    comparable=False)
    assert share.met is False


def test_the_header_warns_when_the_machine_is_busy():
    assert _harness.busy_machine_line(load=0.9, cpus=2) is None
    line = _harness.busy_machine_line(load=1.6, cpus=2)
    assert line.startswith("WARNING") and "1.60 on 2 CPUs" in line
    # at the end, the run's own threads (up to one per CPU) are in the load
    assert _harness.busy_machine_line(load=2.4, cpus=2, ended=True) is None
    line = _harness.busy_machine_line(load=3.0, cpus=2, ended=True)
    assert "busy as the run ended (load average 3.00 on 2 CPUs)" in line


def test_the_header_names_the_blas_variables_set(monkeypatch):
    # OPENBLAS_CORETYPE picks OpenBLAS's kernels (Haswell's on an AVX-512 CPU:
    # digits' products 1.4-2 times slower): a header must say it was set
    for key in list(_harness.os.environ):
        if key.startswith(_harness.BLAS_VARIABLE_PREFIXES):
            monkeypatch.delenv(key)
    assert "BLAS and OpenMP variables: none set (library defaults)" in \
        _harness.environment_lines()
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("VECLIB_MAXIMUM_THREADS", "2")
    monkeypatch.setenv("PATHS_NOT_BLAS", "x")
    monkeypatch.setenv("KMP_DUPLICATE_LIB_OK", "True")  # (scikit-learn's own)
    assert ("BLAS and OpenMP variables: OMP_NUM_THREADS=1, OPENBLAS_CORETYPE=Haswell, "
            "VECLIB_MAXIMUM_THREADS=2" in _harness.environment_lines())


def test_dask_stream_measures_both_libraries_on_the_same_lazy_rows():
    import dask_stream

    X, y = dask_stream.data(rows=3_000, block=1_000)
    assert X.chunks[0] == (1_000,) * 3  # lazily generated, in blocks
    modes = ("dask stream", "dask stream, sync", "in memory")
    results = [dask_stream.run(library, mode, rows=3_000, block=1_000)
               for library in ("skopt_nn", "scikit-learn") for mode in modes]
    assert [(r["library"], r["mode"]) for r in results] == [
        (library, mode) for library in ("skopt_nn", "scikit-learn") for mode in modes]
    for r in results:
        assert r["seconds"] > 0 and r["peak_mb"] > 0 and 0.5 <= r["accuracy"] <= 1
    # the two schedulers train on the same blocks in the same order
    assert results[0]["accuracy"] == results[1]["accuracy"]


def test_dask_full_batch_measures_chunks_and_memory_on_the_same_rows():
    import dask_full_batch

    results = [dask_full_batch.run(library, mode, rows=3_000, block=1_000,
                                   iterations=3)
               for library, mode in [("skopt_nn", m) for m in dask_full_batch.MODES]
               + [("scikit-learn", "in memory")]]
    for r in results:
        assert r["ms_per_iteration"] > 0 and r["peak_mb"] > 0
        assert 0.5 <= r["accuracy"] <= 1
    # chunks, lazy or persisted, follow the in-memory fit to rounding
    ours = [r["loss"] for r in results[:3]]
    assert ours[0] == ours[1]  # the same chunks, the same bits
    assert abs(ours[0] - ours[2]) <= 1e-9 * ours[2]

