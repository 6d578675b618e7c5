"""A solver written by a user in a few lines plugs into the estimators.

``HeavyBall`` (Polyak's heavy ball in the "v = beta v + g; theta -= eps v" form)
and ``SignSGD`` are what a user writes: subclass ``Solver``, store the
hyperparameters, implement ``step`` (and ``init_state`` when keeping state).
The tests check that they train, that their state is carried across
``partial_fit`` and ``warm_start`` (and reset when a hyperparameter changes),
that grid search reaches their hyperparameters, and that they pickle.
"""

import copy
import functools
import inspect
import numbers
import pickle
import random

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError, Interval

from skopt_nn import MLPClassifier
from skopt_nn.schedules import LinearDecay
from skopt_nn.solvers import Momentum, Solver

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


class HeavyBall(Solver):
    def __init__(self, learning_rate=0.05, beta=0.9):
        self.learning_rate = learning_rate
        self.beta = beta

    def init_state(self, theta):
        return {"step": 0, "velocity": np.zeros_like(theta)}

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        state["velocity"] = self.beta * state["velocity"] + grad
        theta -= self.learning_rate * state["velocity"]
        state["step"] += 1
        return loss


class SignSGD(Solver):
    def __init__(self, learning_rate=0.01):
        self.learning_rate = learning_rate

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        theta -= self.learning_rate * np.sign(grad)
        state["step"] += 1
        return loss


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _clf(solver, **params):
    defaults = dict(hidden_layer_sizes=(8,), batch_size=30, max_iter=30,
                    shuffle=False, random_state=0)
    return MLPClassifier(solver=solver, **{**defaults, **params})


@pytest.mark.parametrize("Solver_", [HeavyBall, SignSGD])
def test_user_solver_is_under_15_lines(Solver_):
    assert len(inspect.getsource(Solver_).splitlines()) < 15


@pytest.mark.parametrize("solver", [HeavyBall(), SignSGD(0.03)],
                         ids=["HeavyBall", "SignSGD"])
def test_user_solver_reduces_the_loss(iris, solver):
    X, y = iris
    clf = _clf(solver).fit(X, y)
    assert clf.loss_curve_[-1] < 0.3 * clf.loss_curve_[0]
    assert clf.score(X, y) > 0.9
    assert clf.solver_state_["step"] == clf.n_iter_ * 5  # 150 rows / 30


def test_user_solver_state_is_carried_across_partial_fit(iris):
    """Two partial_fit calls over the halves equal one unshuffled epoch over
    all rows: the velocity continues (a reset one would differ)."""
    X, y = iris
    chunked = _clf(HeavyBall())
    chunked.partial_fit(X[:90], y[:90], classes=[0, 1, 2])
    velocity_after_first = chunked.solver_state_["velocity"].copy()
    chunked.partial_fit(X[90:], y[90:])
    whole = _clf(HeavyBall(), max_iter=1).fit(X, y)
    assert chunked.solver_state_["step"] == whole.solver_state_["step"] == 5
    np.testing.assert_array_equal(chunked.solver_state_["velocity"],
                                  whole.solver_state_["velocity"])
    np.testing.assert_array_equal(chunked._theta, whole._theta)
    assert np.abs(velocity_after_first).max() > 0

    restarted = _clf(HeavyBall())
    restarted.partial_fit(X[:90], y[:90], classes=[0, 1, 2])
    restarted.solver_state_ = restarted.solver_.init_state(restarted._theta)
    restarted.partial_fit(X[90:], y[90:])
    assert np.abs(restarted._theta - whole._theta).max() > 1e-6


def test_user_solver_state_is_carried_across_warm_start(iris):
    X, y = iris
    warm = _clf(HeavyBall(), warm_start=True, max_iter=4).fit(X, y)
    warm.set_params(max_iter=6).fit(X, y)
    once = _clf(HeavyBall(), max_iter=10).fit(X, y)
    np.testing.assert_array_equal(warm._theta, once._theta)
    np.testing.assert_array_equal(warm.solver_state_["velocity"],
                                  once.solver_state_["velocity"])
    assert warm.solver_state_["step"] == 50


def test_user_solver_state_resets_when_its_hyperparameter_changes(iris):
    X, y = iris
    solver = HeavyBall()
    clf = _clf(solver)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    clf.set_params(solver__beta=0.5)
    clf.partial_fit(X, y)
    assert clf.solver_state_["step"] == 5
    assert clf.solver_.beta == 0.5
    assert clf.solver is solver


def test_user_solver_hyperparameters_are_grid_searchable(iris):
    X, y = iris
    search = GridSearchCV(_clf(HeavyBall(learning_rate=0.002), max_iter=10),
                          {"solver__beta": [0.0, 0.9]},
                          cv=StratifiedKFold(3, shuffle=True, random_state=0)).fit(X, y)
    # at a small rate the heavy ball's velocity (up to g / (1 - beta)) wins
    assert search.best_params_ == {"solver__beta": 0.9}
    assert search.best_estimator_.solver_.beta == 0.9


def test_estimator_with_user_solver_pickles_and_continues_identically(iris):
    X, y = iris
    clf = _clf(HeavyBall())
    clf.partial_fit(X, y, classes=[0, 1, 2])
    copy = pickle.loads(pickle.dumps(clf))
    clf.partial_fit(X, y)
    copy.partial_fit(X, y)
    np.testing.assert_array_equal(copy._theta, clf._theta)
    np.testing.assert_array_equal(copy.solver_state_["velocity"],
                                  clf.solver_state_["velocity"])


class NoLoss(Solver):
    def step(self, theta, objective, state):
        objective(theta)  # forgets to return the loss


class DuckTyped:
    """init_state and step, but not an estimator: clone cannot copy it."""

    def init_state(self, theta):
        return {"step": 0}

    def step(self, theta, objective, state):
        return objective(theta)[0]


class DuckTypedEstimator(BaseEstimator, DuckTyped):
    """An estimator with init_state and step, but not a Solver subclass."""


def test_a_step_that_returns_no_loss_is_named(iris):
    X, y = iris
    with pytest.raises(TypeError, match=r"NoLoss.step must return the loss it "
                                        r"evaluated \(a float\), got None"):
        _clf(NoLoss()).fit(X, y)


class PlainGD(Solver):
    """theta <- theta - 0.1 g; returns the loss as ``wrap`` makes it."""

    def __init__(self, wrap=float):
        self.wrap = wrap

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        theta -= 0.1 * grad
        state["step"] += 1
        return self.wrap(loss)


@pytest.mark.parametrize("wrap", [np.asarray, np.float32],
                         ids=["0-d array", "float32"])
def test_a_step_may_return_a_0d_array_or_numpy_scalar(iris, wrap):
    # a 0-d array (np.sum, x @ y) was rejected as "no float", np.float32 not
    X, y = iris
    expected = _clf(PlainGD(), max_iter=3).fit(X, y)
    est = _clf(PlainGD(wrap), max_iter=3).fit(X, y)
    np.testing.assert_array_equal(est._theta, expected._theta)
    np.testing.assert_allclose(est.loss_curve_, expected.loss_curve_, rtol=1e-6)
    assert len(est.loss_curve_) == 3


@pytest.mark.parametrize("wrap", [lambda loss: np.array([loss]), str,
                                  lambda loss: np.asarray(str(loss)),
                                  lambda loss: loss > 0],
                         ids=["1-d array", "str", "0-d str array", "bool"])
def test_a_step_that_returns_no_real_number_is_rejected(iris, wrap):
    X, y = iris
    with pytest.raises(TypeError, match=r"PlainGD.step must return the loss it "
                                        r"evaluated \(a float\)"):
        _clf(PlainGD(wrap), max_iter=3).fit(X, y)


def _negated(loss):
    return -loss


def _slightly_negative(loss):
    return -1e-6 * loss


@pytest.mark.parametrize("returned", [_negated, _slightly_negative])
def test_a_step_that_returns_a_negative_loss_is_named(iris, returned):
    # -loss was accepted (loss_ -1.13), and the next calls' divergence checks
    # then judged nonsense ("loss = 1.139 ... over 1000 times")
    X, y = iris
    clf = _clf(PlainGD(), max_iter=2).fit(X, y)
    before = clf._theta.copy()
    clf.set_params(warm_start=True, solver=PlainGD(returned))
    with pytest.raises(ValueError, match=r"PlainGD.step returned a negative loss "
                                         r"\(-\d.*\): the objective's losses are >= 0"):
        clf.fit(X, y)
    np.testing.assert_array_equal(clf._theta, before)  # the fit was undone


@pytest.mark.parametrize("solver", [DuckTyped(), DuckTypedEstimator()],
                         ids=["plain", "estimator"])
def test_a_solver_that_is_not_a_Solver_is_rejected_by_name(iris, solver):
    X, y = iris
    with pytest.raises(InvalidParameterError, match=r"an instance of '\S*\.Solver'"):
        _clf(solver).fit(X, y)


class ScheduledSignSGD(Solver):
    def __init__(self, learning_rate=0.01):
        self.learning_rate = learning_rate

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        theta -= self.current_learning_rate(state) * np.sign(grad)
        state["step"] += 1
        return loss


def test_current_learning_rate_lets_a_user_solver_take_a_number_or_a_schedule(iris):
    X, y = iris
    theta = np.zeros(3)
    grad = np.array([2.0, -1.0, 0.0])
    objective = lambda t: (0.0, grad.copy())  # noqa: E731
    solver = ScheduledSignSGD(learning_rate=LinearDecay(initial=0.1, final=0.01,
                                                        tau=10))
    state = solver.init_state(theta)
    for k in range(3):  # eps_k = (1 - k/10) 0.1 + (k/10) 0.01: 0.1, 0.091, 0.082
        solver.step(theta, objective, state)
    np.testing.assert_allclose(theta, -(0.1 + 0.091 + 0.082) * np.sign(grad),
                               rtol=1e-14)
    clf = _clf(ScheduledSignSGD(learning_rate=LinearDecay(initial=0.05, tau=20)),
               max_iter=2).fit(X, y)
    assert clf.history_[-1]["learning_rate"] == pytest.approx(
        LinearDecay(initial=0.05, tau=20)(clf.solver_state_["step"]))


class Uncounted(Solver):
    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        theta -= 0.01 * grad  # and never counts the update
        return loss


def test_a_step_that_never_counts_its_updates_is_warned_about(iris):
    X, y = iris
    with pytest.warns(UserWarning, match=r"Uncounted.step left state\['step'\] at 0"):
        _clf(Uncounted(), max_iter=1).fit(X, y)


def test_a_new_learning_rate_between_partial_fit_calls_continues_the_state(iris):
    from skopt_nn.solvers import Adam

    X, y = iris
    clf = _clf(Adam(learning_rate=0.01))
    clf.partial_fit(X, y, classes=[0, 1, 2])
    moments = clf.solver_state_["first_moment"].copy()
    clf.set_params(solver__learning_rate=0.005)  # reduce on plateau, by hand
    clf.partial_fit(X, y)
    assert clf.solver_state_["step"] == 10  # 5 + 5 updates: not restarted
    assert clf.solver_.learning_rate == 0.005
    # the moments went on from the first call's (a fresh state starts at 0,
    # and one call's 5 updates leave 1 - 0.9**5 = 41% of the gradient scale)
    assert not np.array_equal(clf.solver_state_["first_moment"], moments)
    assert clf.history_[-1]["learning_rate"] == 0.005


def test_the_state_continues_through_its_own_step_under_new_schedule_parameters(iris):
    X, y = iris
    clf = _clf(ScheduledSignSGD(learning_rate=LinearDecay(initial=0.05, tau=100)))
    clf.partial_fit(X, y, classes=[0, 1, 2])
    clf.set_params(solver__learning_rate__tau=20)
    clf.partial_fit(X, y)
    assert clf.solver_state_["step"] == 10
    assert clf.history_[-1]["learning_rate"] == pytest.approx(
        LinearDecay(initial=0.05, tau=20)(10))


@pytest.mark.parametrize("first, second", [
    (0.01, "linear"), ("linear", 0.01), ("linear", "inverse")])
def test_switching_between_a_rate_and_a_schedule_continues_the_state(iris, first,
                                                                    second):
    from skopt_nn.schedules import InverseScaling, LinearDecay
    from skopt_nn.solvers import Adam

    rates = {"linear": LinearDecay(initial=0.01, tau=50),
             "inverse": InverseScaling(initial=0.01)}
    X, y = iris
    clf = _clf(Adam(learning_rate=rates.get(first, first)))
    clf.partial_fit(X, y, classes=[0, 1, 2])
    clf.set_params(solver__learning_rate=rates.get(second, second))
    clf.partial_fit(X, y)
    assert clf.solver_state_["step"] == 10



# ------------------------------------- hyperparameters that clone deep-copies
def _clip(g, c):
    return np.clip(g, -c, c)


class Clip:
    """A callable object: clone deep-copies it into a new, equal-by-value one."""

    def __init__(self, c):
        self.c = c

    def __call__(self, g):
        return np.clip(g, -self.c, self.c)


class TransformedMomentum(Momentum):
    """Momentum on a transformed, rescaled gradient: hyperparameters that are
    callables and lists of arrays."""

    def __init__(self, learning_rate=0.05, momentum=0.9, transform=None,
                 scales=None):
        super().__init__(learning_rate=learning_rate, momentum=momentum)
        self.transform = transform
        self.scales = scales

    def step(self, theta, objective, state):
        def transformed(point):
            loss, grad = objective(point)
            if self.scales is not None:
                grad = grad * float(sum(s.sum() for s in self.scales))
            return loss, grad if self.transform is None else self.transform(grad)

        return super().step(theta, transformed, state)


_EQUAL_BY_VALUE = {
    "partial": dict(transform=functools.partial(_clip, c=1.0)),
    "callable_object": dict(transform=Clip(1.0)),
    "bound_method": dict(transform=Clip(1.0).__call__),
    "list_of_arrays": dict(scales=[np.ones(2), np.ones(3)]),
    "tuple_of_arrays": dict(scales=(np.ones(2), np.full(3, 0.5))),
    "partial_with_array": dict(transform=functools.partial(_clip,
                                                           c=np.full(1, 2.0))),
}


@pytest.mark.parametrize("hyperparameters", _EQUAL_BY_VALUE.values(),
                         ids=_EQUAL_BY_VALUE.keys())
def test_state_carries_over_under_hyperparameters_that_clone_deep_copies(
        iris, hyperparameters):
    """clone copies a partial, a callable object or a list of arrays into a new
    object at every call: equal by value, the state must go on (3 calls of 2
    minibatches: 6 updates, not 2), and the run must equal one fit's epochs."""
    X, y = iris
    X, y = X[::2][:60], y[::2][:60]  # 60 rows of the 3 classes: 2 minibatches
    clf = _clf(TransformedMomentum(**hyperparameters))
    for _ in range(3):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert clf.solver_state_["step"] == 6
    once = _clf(TransformedMomentum(**hyperparameters), max_iter=3).fit(X, y)
    np.testing.assert_array_equal(clf._theta, once._theta)
    np.testing.assert_array_equal(clf.solver_state_["velocity"],
                                  once.solver_state_["velocity"])


_CHANGED = {
    "partial_keyword": ("transform", functools.partial(_clip, c=1.0),
                        functools.partial(_clip, c=0.5)),
    "partial_function": ("transform", functools.partial(_clip, c=1.0),
                         functools.partial(np.clip, a_min=-1.0, a_max=1.0)),
    "callable_object": ("transform", Clip(1.0), Clip(0.5)),
    "partial_to_object": ("transform", functools.partial(_clip, c=1.0), Clip(1.0)),
    "array_in_list": ("scales", [np.ones(2), np.ones(3)],
                      [np.ones(2), np.full(3, 2.0)]),
    "list_length": ("scales", [np.ones(2), np.ones(3)], [np.ones(2)]),
    "array_shape": ("scales", [np.ones(2), np.ones(3)], [np.ones(2), np.ones(4)]),
    "array_dtype": ("scales", [np.ones(2), np.ones(3)],
                    [np.ones(2), np.ones(3, dtype=np.float32)]),
}


@pytest.mark.parametrize("name, before, after", _CHANGED.values(),
                         ids=_CHANGED.keys())
def test_a_changed_callable_or_array_hyperparameter_still_resets_the_state(
        iris, name, before, after):
    X, y = iris
    X, y = X[::2][:60], y[::2][:60]
    clf = _clf(TransformedMomentum(**{name: before}))
    clf.partial_fit(X, y, classes=[0, 1, 2])
    clf.partial_fit(X, y)
    assert clf.solver_state_["step"] == 4
    clf.set_params(**{f"solver__{name}": after})
    clf.partial_fit(X, y)
    assert clf.solver_state_["step"] == 2


class _RaisingEq:
    def __eq__(self, other):
        raise RuntimeError("cannot compare")

    __hash__ = object.__hash__


class _ArrayEq:
    def __eq__(self, other):
        return np.array([True, False])

    __hash__ = object.__hash__


class _Slotted:
    __slots__ = ("c",)

    def __init__(self, c):
        self.c = c


@pytest.mark.parametrize("a, b, same", [
    (np.tanh, np.tanh, True),
    (_clip, Clip.__call__, False),  # two functions (empty __dict__ both)
    (1, 1.0, True),
    (float("nan"), np.float64("nan"), True),
    (np.array([1.0, np.nan]), np.array([1.0, np.nan]), True),
    (np.ones(2), [1.0, 1.0], False),
    ({"a": [np.ones(2)]}, {"a": [np.ones(2)]}, True),
    ({"a": [np.ones(2)]}, {"b": [np.ones(2)]}, False),
    ({"a": 1.0}, {"a": 1.0, "c": 2.0}, False),  # a key added
    (np.array([Clip(1.0)], dtype=object), np.array([Clip(1.0)], dtype=object), True),
    ("relu", "relu", True),
    (None, 0, False),
    (_RaisingEq(), _RaisingEq(), False),
    (_ArrayEq(), _ArrayEq(), False),
    # no __dict__, or a state of C: compared by what pickle records of them
    # (by __dict__ alone, all of these were alike; a generator never equalled
    # its deep copy, which reset the state at every call)
    (_Slotted(1.0), _Slotted(1.0), True),
    (_Slotted(1.0), _Slotted(2.0), False),
    (random.Random(0), random.Random(0), True),
    (random.Random(0), random.Random(1), False),
    (np.random.RandomState(0), np.random.RandomState(0), True),
    (np.random.RandomState(0), np.random.RandomState(1), False),
    (np.random.default_rng(0), np.random.default_rng(1), False),
])
def test_hyperparameter_values_are_compared_by_value_and_never_raise(a, b, same):
    from skopt_nn._hyperparameters import same_value

    assert same_value(a, b) is same
    if same:  # and what clone makes of it
        assert same_value(copy.deepcopy(a), a) is True


def test_a_self_referencing_hyperparameter_is_compared_without_recursing_forever():
    from skopt_nn._hyperparameters import same_value

    a = Clip(1.0)
    a.me = a
    assert same_value(a, copy.deepcopy(a))
    b = copy.deepcopy(a)
    b.c = 2.0
    assert not same_value(a, b)


# --------------------------------- the contract the Solver docstring documents
class DtypeProbe(Solver):
    """Records the dtypes a step sees (the documented contract)."""

    seen = []

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        v = np.ones(theta.size, dtype=np.float64)
        DtypeProbe.seen.append((theta.dtype, grad.dtype, objective.hvp(theta, v).dtype,
                                type(loss)))
        theta -= 0.01 * grad
        state["step"] += 1
        return loss


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_theta_grad_and_hvp_are_in_the_model_dtype(iris, dtype):
    X, y = iris
    DtypeProbe.seen = []
    _clf(DtypeProbe(), max_iter=1).fit(X.astype(dtype), y)
    assert set(DtypeProbe.seen) == {(np.dtype(dtype),) * 3 + (float,)}


class ConvergedOnce(Solver):
    """Sets state["converged"] once and never clears it (what not to do)."""

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        theta -= 0.01 * grad
        state["step"] += 1
        if state["step"] == 3:
            state["converged"] = True
        return loss


def test_a_converged_flag_left_true_stops_each_later_warm_start_fit_after_one_epoch(
        iris):
    X, y = iris
    clf = _clf(ConvergedOnce(), batch_size=150, warm_start=True, max_iter=20)
    clf.fit(X, y)
    assert clf.n_iter_ == 3
    for n_iter in (4, 5):
        clf.fit(X, y)
        assert clf.n_iter_ == n_iter


def test_early_stopping_leaves_a_full_batch_solver_with_a_fresh_state(iris):
    X, y = iris
    stopped = _clf("lbfgs", batch_size="auto", early_stopping=True,
                   max_iter=15).fit(X, y)
    assert stopped.n_iter_ > 0
    assert stopped.solver_state_["step"] == 0 and stopped.solver_state_["n_pairs"] == 0
    plain = _clf("lbfgs", batch_size="auto", max_iter=15).fit(X, y)
    assert plain.solver_state_["step"] == plain.n_iter_ > 0
    assert plain.solver_state_["n_pairs"] > 0


def test_values_made_during_a_comparison_never_pass_for_a_cycle():
    # The tuples of __reduce_ex__ live only while compared: freed, their ids
    # went to the next ones, which the cycle check took for pairs already
    # seen, hence equal (a changed hyperparameter kept the stale state)
    from skopt_nn._hyperparameters import same_value

    for _ in range(20):
        assert not same_value((_Slotted(1.0), _Slotted(1.0), _Slotted(2.0)),
                              (_Slotted(1.0), _Slotted(1.0), _Slotted(3.0)))
        assert not same_value({"a": random.Random(0), "b": random.Random(0)},
                              {"a": random.Random(0), "b": random.Random(1)})
    assert same_value((_Slotted(1.0), _Slotted(2.0)), (_Slotted(1.0), _Slotted(2.0)))


class LocksAndFails(Solver):
    """Updates theta, marks it read-only, then raises: a solver's bug."""

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        theta -= 0.1 * grad
        theta.flags.writeable = False
        raise RuntimeError("the solver failed")


def test_a_solver_that_locks_theta_then_raises_leaves_the_model_as_it_was(iris):
    # the rollback wrote into the locked array and failed: the model kept the
    # failed step's parameters and could not be fitted again (robustness review)
    X, y = iris
    clf = MLPClassifier((5,), solver=Momentum(), max_iter=3, random_state=0,
                        warm_start=True).fit(X, y)
    theta = clf._theta.copy()
    clf.set_params(solver=LocksAndFails())
    with pytest.raises(RuntimeError, match="the solver failed"):
        clf.fit(X, y)
    np.testing.assert_array_equal(clf._theta, theta)
    clf.set_params(solver=Momentum()).fit(X, y)  # trains on
    assert clf.n_iter_ == 6


class EvaluatesAPart(Solver):
    def __init__(self, call="__call__"):
        self.call = call

    def step(self, theta, objective, state):
        if self.call == "hvp":
            return objective.hvp(theta[:5], theta[:5])
        value = getattr(objective, self.call)(theta[:5])
        return value[0] if self.call == "__call__" else value


@pytest.mark.parametrize("call", ["__call__", "loss", "hvp"])
def test_an_objective_called_with_no_flat_parameter_vector_says_so(iris, call):
    # a part of theta met a reshape error deep in the network (robustness review)
    X, y = iris
    with pytest.raises(ValueError, match=r"The objective takes the flat "
                       r"parameter vector, an ndarray of shape \(67,\); got \(5,\)"):
        _clf(EvaluatesAPart(call), max_iter=1).fit(X, y)


class Restarts(Solver):
    """A hyperparameter that is an int or a bool, by its own constraints."""

    _parameter_constraints = {
        "restart_every": [Interval(numbers.Integral, 1, None, closed="left"), bool]}

    def __init__(self, restart_every=True):
        self.restart_every = restart_every

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        theta -= 0.1 * grad
        state["step"] += 1
        return loss


def test_a_bool_that_a_solvers_own_constraints_allow_is_accepted(iris):
    # integer parameters refuse bools, unless their constraints list bool
    X, y = iris
    _clf(Restarts(True), max_iter=2).fit(X, y)
    _clf(Restarts(3), max_iter=2).fit(X, y)


@pytest.mark.parametrize("rate, match", [
    (-0.01, "must be a finite real number >= 0 or a schedule, got -0.01"),
    ("0.01", "must be a finite real number >= 0 or a schedule, got '0.01'"),
    (True, "must be a finite real number >= 0 or a schedule, got True"),
    (np.nan, "must be a finite real number >= 0 or a schedule, got nan"),
    (np.inf, "must be a finite real number >= 0 or a schedule, got inf"),
    # a schedule's class is callable: it failed at the first update with
    # "returned LinearDecay(initial=0)"
    (LinearDecay, r"must be an instance, not the class LinearDecay: pass "
                  r"learning_rate=LinearDecay\(...\)"),
], ids=["negative", "string", "bool", "nan", "inf", "class"])
def test_a_learning_rate_that_is_no_rate_is_refused_before_training(iris, rate, match):
    # SignSGD declares no constraints: -0.01 trained uphill without a word,
    # "0.01" (from a configuration file) failed inside its step, inf diverged
    X, y = iris
    clf = _clf(SignSGD(), max_iter=2).fit(X, y)
    before = clf._theta.copy()
    with pytest.raises(ValueError, match="The learning_rate of SignSGD " + match):
        clf.set_params(warm_start=True, solver=SignSGD(rate)).fit(X, y)
    np.testing.assert_array_equal(clf._theta, before)
    # read by a step through current_learning_rate, a negative rate is named too
    from skopt_nn.solvers._base import learning_rate_at
    for rate in (-0.5, np.nan, np.inf):
        with pytest.raises(ValueError, match="learning_rate must be a finite real "
                           "number >= 0 or a schedule, got"):
            learning_rate_at(rate, 0)


@pytest.mark.parametrize("rate", [0, 0.0, lambda k: 0.0], ids=["int", "float",
                                                               "schedule"])
def test_a_learning_rate_of_zero_is_a_rate(rate):
    # (>= 0: the bound is not refused, constant or scheduled)
    from skopt_nn.solvers._base import learning_rate_at
    assert learning_rate_at(rate, 3) == 0.0


def test_a_learning_rate_that_a_solvers_own_constraints_allow_is_accepted(iris):
    # scikit-learn's convention: learning_rate names a schedule by a string
    from sklearn.utils._param_validation import StrOptions

    class Named(Solver):
        _parameter_constraints = {"learning_rate": [StrOptions({"constant",
                                                                "invscaling"})]}

        def __init__(self, learning_rate="invscaling"):
            self.learning_rate = learning_rate

        def step(self, theta, objective, state):
            loss, grad = objective(theta)
            scale = 1.0 if self.learning_rate == "constant" else \
                1.0 / (1 + state["step"])
            theta -= 0.01 * scale * grad
            state["step"] += 1
            return loss

    X, y = iris
    assert _clf(Named(), max_iter=2).fit(X, y).solver_state_["step"] == 10
    with pytest.raises(InvalidParameterError, match="learning_rate"):
        _clf(Named("linear"), max_iter=2).fit(X, y)


def test_a_hyperparameter_named_step_is_named():
    class Shadowed(Solver):
        def __init__(self, step=0.01):
            self.step = step

    X, y = load_iris(return_X_y=True)
    with pytest.raises(TypeError, match="Shadowed.step is 0.01, not a method: a "
                                        "hyperparameter named 'step' hides"):
        _clf(Shadowed()).fit(X, y)


class _StateOnSelf(Solver):
    """Keeps its velocity on the solver, and appends to a list hyperparameter."""

    def __init__(self, learning_rate=0.01, betas=None):
        self.learning_rate = learning_rate
        self.betas = betas

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        self.velocity_ = getattr(self, "velocity_", 0) + grad
        if self.betas is not None:
            self.betas.append(0.0)
        theta -= self.learning_rate * self.velocity_
        state["step"] += 1
        return loss


def test_a_step_that_changes_its_solver_is_warned_about(iris):
    # divergence recovery never restored such state (every later call diverged
    # again), and a changed hyperparameter reset the state at each call, silently
    X, y = iris
    with pytest.warns(UserWarning, match=r"_StateOnSelf.step changed the solver "
                                         r"during training \(set velocity_\)"):
        _clf(_StateOnSelf(), max_iter=1).fit(X, y)
    with pytest.warns(UserWarning, match=r"\(set velocity_; changed the "
                                         r"hyperparameters betas\)"):
        _clf(_StateOnSelf(betas=[0.9]), max_iter=1).fit(X, y)
    # a fitted model given such a solver to continue with (a fresh state)
    clf = _clf(HeavyBall(), max_iter=1, warm_start=True).fit(X, y)
    with pytest.warns(UserWarning, match="_StateOnSelf.step changed the solver"):
        clf.set_params(solver=_StateOnSelf()).fit(X, y)
    # solvers that keep to the protocol: no warning, on every call
    import warnings
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*changed the solver")
        clf = _clf(HeavyBall(), max_iter=1).fit(X, y)
        clf.partial_fit(X, y)
        _clf(Momentum(), max_iter=1).fit(X, y).partial_fit(X, y)
