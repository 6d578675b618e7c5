"""The order of the gallery: the lecture's (an importable sort key for conf.py)."""

EXAMPLE_ORDER = [
    "plot_ill_conditioning.py",
    "plot_momentum_nesterov.py",
    "plot_linear_decay.py",
    "plot_adagrad_rmsprop.py",
    "plot_newton_saddle.py",
    "plot_gradient_clipping.py",
    "plot_batchnorm_learning_rate.py",
    "plot_grid_search.py",
    "plot_partial_fit_stream.py",
    "plot_dask_stream.py",
    "plot_dask_full_batch.py",
    "plot_custom_solver.py",
    "plot_deploy.py",
]


class LectureOrder:
    """sphinx-gallery ``within_subsection_order`` key: listed files first, in order."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        if filename in EXAMPLE_ORDER:
            return EXAMPLE_ORDER.index(filename), filename
        return len(EXAMPLE_ORDER), filename
