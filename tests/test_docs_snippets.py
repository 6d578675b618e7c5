"""The Python snippets of the README and of the docs' pages run.

Each page's snippets run in order, in one namespace, in a temporary directory.
A page's snippets may take names as given, as its text does (a fitted
``model`` with its rows ``X`` and labels ``y``): those come from the page's
prelude below. Snippets that need what a test cannot have (a dask cluster's
address) are listed, with the reason, and left out; everything else runs.
"""

import re
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _markdown_blocks(text):
    return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)


def _rst_blocks(text):
    """The bodies of ``.. code-block:: python`` directives, dedented."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        directive = re.match(r"(\s*)\.\. code-block:: python\s*$", lines[i])
        i += 1
        if not directive:
            continue
        indent, body = len(directive.group(1)), []
        while i < len(lines) and re.match(r"\s*:\w+:", lines[i]):  # options
            i += 1
        # the body: blank lines, or lines indented deeper than the directive
        while i < len(lines) and (not lines[i].strip() or
                                  len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i])
            i += 1
        blocks.append(textwrap.dedent("\n".join(body)).strip() + "\n")
    return blocks


def _blocks(path):
    text = path.read_text(encoding="utf-8")
    return _markdown_blocks(text) if path.suffix == ".md" else _rst_blocks(text)


def _pages():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.rst")),
             *sorted((ROOT / "docs" / "user_guide").glob("*.rst"))]
    return [p for p in pages if _blocks(p)]


def _fitted_model():
    from sklearn.datasets import load_digits

    from skopt_nn import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X, y = X[:400] / 16, y[:400]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (few iterations: ConvergenceWarning)
        model = MLPClassifier((16,), max_iter=20, random_state=0).fit(X, y)
    return {"model": model, "X": X, "y": y}


def _protocol_names():
    """What custom_solvers.rst's first snippets take as given."""
    from skopt_nn.solvers import SGD

    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    return {"solver": SGD(learning_rate=0.1), "theta": np.array([1.0, -1.0]),
            "objective": lambda theta: (0.5 * theta @ A @ theta, A @ theta),
            "H": A}


def _dask_names(monkeypatch):
    """dask.rst reads zarr stores of digits rows: chunked digits instead."""
    da = pytest.importorskip("dask.array")
    pytest.importorskip("dask_ml")
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    stores = {"features.zarr": da.from_array(X / 16, chunks=(600, 64)),
              "labels.zarr": da.from_array(y, chunks=600)}
    monkeypatch.setattr(da, "from_zarr", lambda store: stores[store])
    return {"X_small": X[:500] / 16, "y_small": y[:500]}


PRELUDES = {
    "custom_solvers.rst": lambda monkeypatch: _protocol_names(),
    "dask.rst": _dask_names,
    "deploy.rst": lambda monkeypatch: _fitted_model(),
    "diagnostics.rst": lambda monkeypatch: _fitted_model(),
}

# (page, text of the snippet) -> why it cannot run here
NOT_RUN = {
    ("dask.rst", 'Client("scheduler-address:8786")'): "connects to a dask cluster",
}


def _not_run(page, block):
    return next((why for (name, text), why in NOT_RUN.items()
                 if name == page and text in block), None)


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_the_snippets_of_a_page_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # (snippets write files: model.skops, ...)
    prelude = PRELUDES.get(page.name)
    namespace = {"__name__": "__snippet__", **(prelude(monkeypatch) if prelude else {})}
    ran = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (short fits: ConvergenceWarning)
        for k, block in enumerate(_blocks(page)):
            if _not_run(page.name, block):
                continue
            exec(compile(block, f"{page.name}, snippet {k}", "exec"), namespace)
            ran += 1
    assert ran, f"no snippet of {page.name} ran"


def test_the_types_deploy_says_to_trust_are_the_files(tmp_path, monkeypatch):
    # its snippet's comment lists them for a default classifier: the list
    # must be what skops reports, no more, no fewer
    sio = pytest.importorskip("skops.io")
    page = ROOT / "docs" / "user_guide" / "deploy.rst"
    block = next(b for b in _blocks(page) if "get_untrusted_types" in b)
    comment = re.search(r"# (\[.*?\])", block.replace("\n#  ", " "), re.S).group(1)
    documented = [name.strip(" '") for name in comment.strip("[]").split(",")]
    monkeypatch.chdir(tmp_path)
    sio.dump(_fitted_model()["model"], "model.skops")
    assert sorted(sio.get_untrusted_types(file="model.skops")) == sorted(documented)


def test_every_snippet_left_out_is_still_in_its_page():
    # a listed snippet that was edited away would silently list nothing
    for (name, text), _ in NOT_RUN.items():
        page = next(p for p in _pages() if p.name == name)
        assert any(text in block for block in _blocks(page)), (name, text)


def test_the_snippets_are_found_in_every_form_the_pages_use():
    rst = textwrap.dedent("""\
        Text.

        .. code-block:: python
           :caption: options are skipped

           a = 1

           b = a + 1

        Next paragraph.

          .. code-block:: python

              c = 3
        """)
    assert _rst_blocks(rst) == ["a = 1\n\nb = a + 1\n", "c = 3\n"]
    markdown = "x\n```python\nd = 4\n```\n```bash\nls\n```\n"
    assert _markdown_blocks(markdown) == ["d = 4\n"]
    pages = {p.name for p in _pages()}
    assert {"README.md", "quickstart.rst", "custom_solvers.rst", "deploy.rst",
            "diagnostics.rst", "dask.rst", "sklearn.rst"} <= pages
