"""Every public name of the documented modules has a docstring.

The API reference (docs/api/) is generated from the docstrings of ``nfv.models``,
``nfv.driver``, ``nfv.systems``, ``nfv.distributed`` and ``nfv.analysis``. A public name
is one in the module's ``__all__`` or, without ``__all__``, one not starting with ``_``.
Checked: public functions and classes, and the public methods and properties defined on
public classes (a method overriding a documented one of a base class inherits its
docstring, as in ``help()`` and in Sphinx). Constants and other data are documented by
hand in docs/api/.
"""

import dataclasses
import importlib
import inspect

import pytest

MODULES = (
    "netket_factored_vit.models",
    "netket_factored_vit.driver",
    "netket_factored_vit.systems",
    "netket_factored_vit.distributed",
    "netket_factored_vit.analysis",
)


def public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    return sorted(names)


def _fields(cls) -> set[str]:
    """Dataclass (flax) and NetKet pytree fields: attributes, not methods."""
    names = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    return names | set(getattr(cls, "_pytree__fields", ()) or ())


def public_methods(cls) -> list[str]:
    """Public functions, properties, class and static methods defined on ``cls`` itself."""
    fields = _fields(cls)
    kinds = (property, classmethod, staticmethod)
    return sorted(
        name
        for name, value in vars(cls).items()
        if not name.startswith("_")
        and name not in fields
        and (inspect.isfunction(value) or isinstance(value, kinds))
    )


def own_docstring(obj) -> str:
    """The docstring written for ``obj`` itself (a class does not inherit its base's)."""
    doc = obj.__doc__ if inspect.isclass(obj) else inspect.getdoc(obj)
    doc = (doc or "").strip()
    if (
        inspect.isclass(obj)
        and dataclasses.is_dataclass(obj)
        and doc.startswith(obj.__name__ + "(")
    ):
        return ""  # the signature @dataclass writes when there is no docstring
    return doc


def undocumented(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    missing = []
    for name in public_names(module):
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue  # data: documented by hand in docs/api/
        if not own_docstring(obj):
            missing.append(f"{module_name}.{name}")
        if inspect.isclass(obj):
            for method in public_methods(obj):
                if not (inspect.getdoc(getattr(obj, method)) or "").strip():
                    missing.append(f"{module_name}.{name}.{method}")
    return missing


@pytest.mark.parametrize("module_name", MODULES)
def test_public_names_have_docstrings(module_name):
    missing = undocumented(module_name)
    assert not missing, "public names without a docstring:\n  " + "\n  ".join(missing)


def test_the_check_sees_the_public_names():
    # guards against a check that passes because it finds nothing to check
    models = importlib.import_module("netket_factored_vit.models")
    assert {"ViT", "vit_preset", "FactoredAttention"} <= set(public_names(models))
    assert "attention_weights" in public_methods(models.FactoredAttention)
    assert "lattice_shape" not in public_methods(models.ViT)
    systems = importlib.import_module("netket_factored_vit.systems")
    assert "n_sites" in public_methods(systems.LatticeSystem)
