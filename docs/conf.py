"""Sphinx configuration: `make docs` builds docs/_build/html."""

import netket_factored_vit

project = "netket_factored_vit"
version = release = netket_factored_vit.__version__
extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]
myst_enable_extensions = ["dollarmath", "amsmath"]
nb_execution_mode = "off"
exclude_patterns = ["_build"]
html_theme = "sphinx_book_theme"
