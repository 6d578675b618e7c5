"""``python -m skopt_nn compare`` (also ``skopt-nn compare``): argument parsing only.

The comparison itself lives in :mod:`skopt_nn._report`.
"""

import argparse
import sys

from ._report import BUNDLED_DATASETS, Settings, UsageError, run_compare
from .solvers._base import SOLVER_ALIASES

PROG = "skopt-nn"
EXIT_USAGE = 2

_DESCRIPTION = """\
Train the chosen solvers, each with and without batch normalization (see
--bn), on one dataset with the same network, seed and train/test split;
print a table and write a report (results.csv, curves.csv, loss curves as
PNG, index.html)."""

_EPILOG = f"""\
solvers: {', '.join(SOLVER_ALIASES)}
datasets: {', '.join(BUNDLED_DATASETS)} (scikit-learn's bundled data), or a
  .csv file with a header row (--target names the target column) or a .npz
  file (arrays X and y, or --target naming the target array)

examples:
  {PROG} compare
  {PROG} compare --solvers sgd momentum adam --dataset wine --tune
  {PROG} compare --solvers sgd adam lbfgs --curvature
  {PROG} compare --dataset data.csv --target price --task regression"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr, exit code 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got '{text}'")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"expected an integer from 0 to 2**32 - 1, got '{text}'")
    return value


def _batch_size(text):
    return "auto" if text == "auto" else _positive_int(text)


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got '{text}'")
    return value


def _solver(text):
    if text not in SOLVER_ALIASES:
        raise argparse.ArgumentTypeError(
            f"unknown solver '{text}': choose from {', '.join(SOLVER_ALIASES)}")
    return text


def build_parser():
    """The ``skopt-nn`` argument parser."""
    parser = _Parser(prog=PROG, description="skopt_nn: MLPs with pluggable optimizers.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    compare = commands.add_parser(
        "compare", help="compare the optimizers on a dataset",
        description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    compare.add_argument("--solvers", nargs="+", type=_solver, metavar="NAME",
                         help="solvers to compare (default: all)")
    compare.add_argument("--dataset", default="digits", metavar="NAME_OR_FILE",
                         help="a bundled dataset or a .csv/.npz file (default: digits)")
    compare.add_argument("--target", metavar="NAME",
                         help="target column of a CSV file, or array of a .npz file")
    compare.add_argument("--task", choices=("auto", "classification", "regression"),
                         default="auto", help="default: inferred from the target")
    compare.add_argument("--bn", choices=("both", "off", "on"), default="both",
                         help="batch normalization: with and without (default), "
                              "without only, with only")
    compare.add_argument("--hidden", nargs="*", type=_positive_int, default=[64],
                         metavar="UNITS",
                         help="hidden layer sizes (default: 64; none: no hidden layer, "
                              "with --bn off)")
    compare.add_argument("--max-iter", type=_positive_int, default=200, metavar="N",
                         help="epochs (steps for full-batch solvers) (default: 200)")
    compare.add_argument("--batch-size", type=_batch_size, default="auto",
                         metavar="N", help="minibatch rows (default: auto)")
    compare.add_argument("--tune", action="store_true",
                         help="pick each solver's learning rate by a 3-fold grid "
                              "search on the training rows first")
    compare.add_argument("--curvature", action="store_true",
                         help="after each run, measure the largest eigenvalue of "
                              "the training objective's Hessian (lambda_max, the "
                              "sharpness of the solution found) and 2/lambda_max, "
                              "the step size above which gradient descent goes "
                              "uphill; two more columns")
    compare.add_argument("--test-size", type=_fraction, default=0.25, metavar="F",
                         help="fraction of the rows held out for the test score "
                              "(default: 0.25)")
    compare.add_argument("--seed", type=_seed, default=0,
                         help="seed of the split, initialization and shuffling "
                              "(default: 0)")
    compare.add_argument("--blas-threads", type=_non_negative_int, default=1,
                         metavar="N",
                         help="BLAS threads of the fits: 1 (default; small networks "
                              "gain nothing from more, and a busy machine makes "
                              "more much slower), or 0 for the BLAS default")
    compare.add_argument("--out", default="skopt_nn_report", metavar="DIR",
                         help="report directory (default: skopt_nn_report)")
    compare.add_argument("-q", "--quiet", action="store_true",
                         help="no progress display on stderr")
    return parser


def main(argv=None):
    """Entry point of ``python -m skopt_nn`` and of the ``skopt-nn`` script.

    Parameters
    ----------
    argv : list of str or None
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    exit_code : int
        0; 2 for bad arguments (one line on stderr), or a report that cannot
        be written (the table is printed first); 130 when stopped by Ctrl-C
        (the runs that finished are still reported, unless Ctrl-C comes while
        the report is being written, which is said).

    See ``skopt_nn._report.run_compare`` for the same from Python (pytest does
    not collect doctests from a ``__main__`` module).
    """
    args = build_parser().parse_args(argv)
    settings = Settings(hidden=tuple(args.hidden), max_iter=args.max_iter,
                        batch_size=args.batch_size, test_size=args.test_size,
                        seed=args.seed, tune=args.tune,
                        blas_threads=args.blas_threads or None,
                        curvature=args.curvature)
    batch_norm = {"both": (False, True), "off": (False,), "on": (True,)}[args.bn]
    try:
        return run_compare(dataset=args.dataset, target=args.target, task=args.task,
                           solvers=args.solvers, batch_norm=batch_norm,
                           settings=settings, out=args.out, quiet=args.quiet)
    except UsageError as error:
        print(f"{PROG} compare: error: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
