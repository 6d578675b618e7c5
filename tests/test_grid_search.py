"""GridSearchCV over the solver's nested hyperparameters, the scikit-learn way.

``solver__learning_rate``, ``solver__momentum``, ``solver__rho``,
``solver__learning_rate__tau`` (a schedule inside the solver) and whole solvers
``{"solver": [SGD(), Nesterov(), Adam(), Newton()]}``, also inside a Pipeline.
The winners are the ones the optimization explains, the scores are those of
independent fits, and the user's solver object is never mutated.
"""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skopt_nn import MLPClassifier
from skopt_nn.schedules import LinearDecay
from skopt_nn.solvers import SGD, Adam, Momentum, Nesterov, Newton, RMSProp

# 20 epochs stop at max_iter by design
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

CV = StratifiedKFold(3, shuffle=True, random_state=0)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _clf(solver, **params):
    defaults = dict(hidden_layer_sizes=(8,), max_iter=20, batch_size=16, random_state=0)
    return MLPClassifier(solver=solver, **{**defaults, **params})


def _search(estimator, grid, X, y):
    return GridSearchCV(estimator, grid, cv=CV).fit(X, y)


def test_search_over_learning_rate_prefers_one_that_moves(iris):
    """In 20 epochs, eps = 1e-4 barely leaves the initial weights."""
    X, y = iris
    search = _search(_clf(SGD()), {"solver__learning_rate": [1e-4, 1e-2, 0.3]}, X, y)
    assert search.best_params_ == {"solver__learning_rate": 0.3}
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] < scores[1] < scores[2]
    assert search.best_estimator_.solver_.learning_rate == 0.3


@pytest.mark.parametrize("grid", [
    {"solver__learning_rate": [0.003, 0.03]},
    {"solver": ["momentum"], "solver__learning_rate": [0.003, 0.03]},
])
def test_nested_grid_works_with_a_string_solver(iris, grid):
    # the nested parameters apply to the object the alias stands for; with an
    # object, the very same search
    X, y = iris
    search = _search(_clf("momentum"), grid, X, y)
    reference = _search(_clf(Momentum()), {"solver__learning_rate": [0.003, 0.03]},
                        X, y)
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"],
                                  reference.cv_results_["mean_test_score"])
    best = search.best_estimator_.solver
    assert isinstance(best, Momentum) and best.get_params() == Momentum(
        learning_rate=search.best_params_["solver__learning_rate"]).get_params()


def test_set_params_turns_a_string_solver_into_its_object_for_nested_parameters():
    clf = MLPClassifier(solver="nesterov").set_params(solver__momentum=0.5)
    assert isinstance(clf.solver, Nesterov)
    assert clf.solver.get_params() == Nesterov(momentum=0.5).get_params()
    assert MLPClassifier(solver="adam").set_params(alpha=1.0).solver == "adam"
    with pytest.raises(ValueError, match="Invalid parameter 'rho' for estimator"):
        MLPClassifier(solver="sgd").set_params(solver__rho=0.5)


def test_a_nested_parameter_through_a_number_names_the_schedule_it_needs():
    # AttributeError: 'float' object has no attribute 'set_params'
    with pytest.raises(ValueError, match=r"solver__learning_rate__tau'\].*needs a "
                                         "schedule as learning_rate"):
        MLPClassifier(solver=SGD()).set_params(solver__learning_rate__tau=5)
    clf = MLPClassifier(solver=SGD()).set_params(
        solver__learning_rate=LinearDecay(), solver__learning_rate__tau=5)
    assert clf.solver.learning_rate.tau == 5


@pytest.mark.parametrize("solver", [None, "bogus"])
def test_a_nested_parameter_of_no_solver_names_the_key(solver):
    # the key list was empty, and the hint about schedules beside the point
    with pytest.raises(ValueError, match=r"Invalid nested parameter\(s\) "
                                         r"\['solver__learning_rate'\]: .* not an "
                                         r"estimator \([^)]*\)\.$"):
        MLPClassifier(solver=solver).set_params(solver__learning_rate=0.1)


def test_search_over_momentum_prefers_momentum_at_a_small_rate(iris):
    """With a small eps the velocity's terminal speed eps |g| / (1 - alpha) makes
    alpha = 0.9 ten times faster than plain SGD (alpha = 0)."""
    X, y = iris
    search = _search(_clf(Momentum(learning_rate=0.003)),
                     {"solver__momentum": [0.0, 0.5, 0.9]}, X, y)
    assert search.best_params_ == {"solver__momentum": 0.9}
    assert search.best_estimator_.solver_.momentum == 0.9
    assert search.best_estimator_.solver_.learning_rate == 0.003


def test_search_over_rho_scores_equal_independent_fits(iris):
    """Each candidate's mean score is that of an RMSProp built with that rho."""
    X, y = iris
    rhos = [0.0, 0.5, 0.9, 0.99]
    search = _search(_clf(RMSProp(learning_rate=0.01)), {"solver__rho": rhos}, X, y)
    expected = [cross_val_score(_clf(RMSProp(learning_rate=0.01, rho=rho)), X, y,
                                cv=CV).mean() for rho in rhos]
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"], expected)
    assert len(set(expected)) > 1  # rho reached the solver: the scores differ
    assert search.best_params_["solver__rho"] == rhos[int(np.argmax(expected))]


def test_search_over_schedule_tau_prefers_a_slow_decay(iris):
    """tau = 1 drops the rate to eps_0 / 100 after one update; tau = 1000 keeps it
    near eps_0 for the whole fit (20 epochs of 7 updates)."""
    X, y = iris
    schedule = LinearDecay(initial=0.1, tau=100)
    solver = SGD(learning_rate=schedule)
    search = _search(_clf(solver), {"solver__learning_rate__tau": [1, 10, 1000]}, X, y)
    assert search.best_params_ == {"solver__learning_rate__tau": 1000}
    assert search.best_estimator_.solver_.learning_rate.tau == 1000
    assert schedule.tau == 100 and solver.learning_rate is schedule  # not mutated


def test_search_over_solvers_prefers_newton_at_equal_full_batch_steps(iris):
    """20 full-batch steps each: Newton's steps are worth far more than first-order
    ones on this 67-parameter network."""
    X, y = iris
    candidates = [SGD(), Nesterov(), Adam(), Newton()]
    before = [c.get_params() for c in candidates]
    search = _search(_clf(SGD(), batch_size="auto"), {"solver": candidates}, X, y)
    assert type(search.best_params_["solver"]) is Newton
    assert isinstance(search.best_estimator_.solver_, Newton)
    scores = search.cv_results_["mean_test_score"]
    assert scores[3] > max(scores[:3])
    assert [c.get_params() for c in candidates] == before


def test_search_inside_a_pipeline_reaches_the_solver(iris):
    X, _ = load_iris(return_X_y=True)  # unscaled: the pipeline scales
    y = iris[1]
    pipe = make_pipeline(StandardScaler(), _clf(Momentum(learning_rate=0.003)))
    grid = {"mlpclassifier__solver__learning_rate": [0.003, 0.03],
            "mlpclassifier__solver__momentum": [0.0, 0.9]}
    search = _search(pipe, grid, X, y)
    assert search.best_params_ == {"mlpclassifier__solver__learning_rate": 0.03,
                                   "mlpclassifier__solver__momentum": 0.9}
    fitted = search.best_estimator_[-1].solver_
    assert (fitted.learning_rate, fitted.momentum) == (0.03, 0.9)
    assert pipe[-1].solver.get_params() == Momentum(learning_rate=0.003).get_params()
    assert search.score(X, y) > 0.9


def test_search_with_an_invalid_nested_value_raises_a_clear_error(iris):
    X, y = iris
    search = GridSearchCV(_clf(SGD(LinearDecay())), {"solver__learning_rate__tau": [0]},
                          cv=CV, error_score="raise")
    with pytest.raises(InvalidParameterError,
                       match="The 'tau' parameter of LinearDecay"):
        search.fit(X, y)


@pytest.mark.parametrize("solver", [Adam(learning_rate=0.01),
                                    SGD(learning_rate=LinearDecay(0.1, tau=30))],
                         ids=["Adam", "SGD_LinearDecay"])
def test_fit_never_mutates_the_users_solver(iris, solver):
    X, y = iris
    before = repr(solver)
    clf = _clf(solver).fit(X, y)
    assert clf.solver is solver
    assert repr(solver) == before
    assert clf.solver_ is not solver
    assert repr(clf.solver_) == before  # a clone: equal parameters
    rate = solver.learning_rate
    if isinstance(rate, LinearDecay):
        assert clf.solver_.learning_rate is not rate  # the schedule is cloned too
    clf.solver_.set_params(learning_rate=0.5)
    assert repr(solver) == before
