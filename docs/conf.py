"""Sphinx configuration of the skopt_nn documentation (``make docs``)."""

import sys
from pathlib import Path

import skopt_nn

sys.path.insert(0, str(Path(__file__).parent))  # for _gallery_order

project = "skopt_nn"
author = "the skopt_nn developers"
copyright = "2025, the skopt_nn developers"
release = skopt_nn.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax shipped with the pages: math renders offline
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build"]
default_role = "literal"

# API reference: one page per public name, generated from the docstrings.
autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False  # the class template lists the methods
numpydoc_class_members_toctree = False

# The gallery runs every example at each build; one that fails fails the build.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "_gallery_order.LectureOrder",
    "image_scrapers": ("matplotlib",),
    "doc_module": ("skopt_nn",),
    "backreferences_dir": "generated/backreferences",
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_memory": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"skopt_nn {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []
