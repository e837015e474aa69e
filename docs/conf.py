"""Sphinx configuration: `make docs` builds docs/_build/html with warnings as errors.

The tutorials under docs/tutorials/ are MyST notebooks that myst-nb executes during the
build; their outputs are cached in docs/_build/.jupyter_cache, so a second build only
re-runs a notebook whose code changed. The API reference (docs/api/) is generated from
the docstrings by autosummary into docs/api/_generated/ (not committed).
"""

import inspect
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The tutorials' kernel is the Python that runs sphinx-build (.venv/bin/python) and
# inherits this environment: keep it on the CPU, and no random NetKet tip in the outputs.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("NETKET_NO_TIPS", "1")
sys.path.insert(0, str(HERE.parent))  # the package, when it is not installed

import netket_factored_vit  # noqa: E402

project = "netket_factored_vit"
author = "netket_factored_vit developers"
copyright = "netket_factored_vit developers, Apache-2.0"  # noqa: A001
version = release = netket_factored_vit.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
# docs/study/ holds the study's generated pieces (tables.md, figures, configs), which
# docs/study.md includes: they are not pages of their own
exclude_patterns = ["_build", "**.ipynb_checkpoints", "figures/*.py", "study/**", "accuracy/**"]
templates_path = ["_templates"]

# MyST: $...$ and $$...$$ math, ::: fences, anchors for the headings of every page
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# myst-nb: execute the tutorials, cache their outputs, stop the build on any error
nb_execution_mode = "cache"
nb_execution_cache_path = str(HERE / "_build" / ".jupyter_cache")
nb_execution_timeout = 300  # seconds per cell; each tutorial takes well under a minute
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_in_temp = True  # files the tutorials write (logs) stay out of docs/
nb_merge_streams = True

# API reference: one page per public name, from the docstrings
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_inherit_docstrings = True
autoclass_content = "both"  # the class docstring, then that of __init__ (its Args)
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

html_theme = "sphinx_book_theme"
html_title = f"netket_factored_vit {version}"
html_theme_options = {
    "show_toc_level": 2,
    "home_page_in_toc": True,
}


from netket_factored_vit._src.models import attention as _attention  # noqa: E402

# the package's default initializers, by the name of the call that made them
_DEFAULT_NAMES = {
    "lecun_normal()": _attention.default_kernel_init,
    "zeros": _attention.default_bias_init,
    "normal(stddev=0.1)": _attention.default_positional_init,
}


class _Named:
    """A default value shown by its name (a function), not by its address."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


def _default(value):
    """How a default value is shown in a signature: functions by name, no addresses."""
    if value is inspect.Parameter.empty:
        return value
    for name, default in _DEFAULT_NAMES.items():
        if value is default:
            return _Named(name)
    if inspect.isclass(value) and value.__module__.startswith("jax"):
        return _Named(f"jnp.{value.__name__}")
    if callable(value):
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", "...")
        return _Named("..." if "<locals>" in name else name)
    if "object at 0x" in repr(value):
        return _Named(f"{type(value).__name__}()")
    return value


def _init_signature(app, what, name, obj, options, signature, return_annotation):
    """NetKet's pytree classes (the driver, the callbacks) are built through a metaclass
    whose ``__call__`` takes ``(*args, **kwargs)``: show the signature of ``__init__``."""
    if what != "class":
        return None
    if (signature or "").startswith("(*args"):
        init = vars(obj).get("__init__")
        if init is None:
            return None
        parameters = list(inspect.signature(init).parameters.values())[1:]
    elif hasattr(obj, "__dataclass_fields__") and "parent" in obj.__dataclass_fields__:
        # a flax module: its dataclass fields, without flax's internal `parent`
        parameters = [p for p in inspect.signature(obj).parameters.values() if p.name != "parent"]
    else:
        return None
    parameters = [
        p.replace(annotation=inspect.Parameter.empty, default=_default(p.default))
        for p in parameters
    ]
    return str(inspect.Signature(parameters)), None


def _drop_namedtuple_new(app, what, name, obj, options, lines):
    """``autoclass_content = "both"`` appends a NamedTuple's generated ``__new__`` text."""
    if what == "class":
        lines[:] = [line for line in lines if not line.startswith("Create new instance of ")]


# The package's attribute and property docstrings are plain sentences, some with a colon
# in the first line; napoleon would read the text before it as a type (Google style's
# "type: description" for attributes). Keep them as written.
try:
    from sphinx.ext.napoleon.docstring import GoogleDocstring

    GoogleDocstring._parse_attribute_docstring = lambda self: self._consume_to_end()
except (ImportError, AttributeError):  # pragma: no cover - another Sphinx
    pass


def setup(app):
    app.connect("autodoc-process-signature", _init_signature)
    app.connect("autodoc-process-docstring", _drop_namedtuple_new)
