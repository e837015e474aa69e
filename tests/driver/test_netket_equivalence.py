"""The driver as a drop-in for ``nk.driver.VMC_SR``: same keywords, same trajectories.

Trajectories: both drivers run a few steps from the same seeds (hence the same
samples); parameters and energies must agree within the tolerances of NetKet's
own driver tests (``assert_allclose`` defaults for parameters, 1e-10 absolute
for energies).
"""

import inspect

import jax
import netket as nk
import numpy as np
import optax
import pytest

import netket_factored_vit as nfv

N_SITES = 8
N_STEPS = 3


def _system():
    hi = nk.hilbert.Spin(0.5, N_SITES, total_sz=0)
    g = nk.graph.Chain(N_SITES)
    return hi, g, nk.operator.Heisenberg(hi, g)


def _tiny_vit():
    return nfv.models.ViT(lattice_shape=(2, 4), patch_size=2, d_model=4, num_heads=1, num_layers=1)


MODELS = {
    "rbm": lambda: nk.models.RBM(alpha=1),
    "complex-params": lambda: nk.models.RBM(alpha=1, param_dtype=complex),
    "complex-logpsi": lambda: nk.models.RBMModPhase(alpha=1),
    "vit": _tiny_vit,
}


def _state(model, *, full_sum=False, chunk_size=None):
    hi, g, _ = _system()
    if full_sum:
        return nk.vqs.FullSumState(hi, MODELS[model](), seed=3)
    sampler = nk.sampler.MetropolisExchange(hi, graph=g, n_chains=8)
    return nk.vqs.MCState(
        sampler, MODELS[model](), n_samples=64, seed=1, sampler_seed=2, chunk_size=chunk_size
    )


def case(model, use_ntk, id, *, on_the_fly=False, full_sum=False, chunk=None, marks=(), **kwargs):
    return pytest.param(model, use_ntk, on_the_fly, full_sum, chunk, kwargs, id=id, marks=marks)


CASES = [
    case("rbm", False, "rbm-sr"),
    case("rbm", True, "rbm-minsr"),
    case("rbm", True, "rbm-minsr-onthefly", on_the_fly=True),
    case("rbm", True, "rbm-minsr-projreg-momentum", proj_reg=1.0, momentum=0.8),
    case("rbm", False, "rbm-sr-momentum-chunked", momentum=0.8, chunk=16),
    case("complex-params", False, "complex-params-sr"),
    case(
        "complex-params",
        True,
        "complex-params-minsr-onthefly-projreg",
        on_the_fly=True,
        proj_reg=0.5,
    ),  # fmt: skip
    case("complex-logpsi", True, "complex-logpsi-minsr-momentum-chunked", momentum=0.5, chunk=16),
    case(
        "vit",
        True,
        "vit-minsr-onthefly-momentum",
        on_the_fly=True,
        momentum=0.8,
        marks=pytest.mark.slow,
    ),  # fmt: skip
    case("vit", False, "vit-sr-chunked", chunk=32),
    case("rbm", False, "fullsum-rbm-sr", full_sum=True),
    case(
        "complex-params", False, "fullsum-complex-params-sr-momentum", full_sum=True, momentum=0.5
    ),  # fmt: skip
]


@pytest.mark.parametrize("model,use_ntk,on_the_fly,full_sum,chunk,kwargs", CASES)
def test_trajectory_equals_netket(model, use_ntk, on_the_fly, full_sum, chunk, kwargs):
    H = _system()[2]
    runs = {}
    for name, cls in (("ours", nfv.driver.VMC_SR), ("netket", nk.driver.VMC_SR)):
        vs = _state(model, full_sum=full_sum)
        driver = cls(
            H,
            optax.sgd(0.02),
            variational_state=vs,
            diag_shift=1e-2,
            use_ntk=use_ntk,
            on_the_fly=on_the_fly,
            **kwargs,
        )
        if chunk is not None:
            driver.chunk_size_bwd = chunk  # the setter, after construction
            assert driver.chunk_size_bwd == chunk
        log = nk.logging.RuntimeLog()
        driver.run(N_STEPS, out=log, show_progress=False)
        runs[name] = (vs.parameters, np.asarray(log.data["Energy"]["Mean"]))
    (ours, e_ours), (ref, e_ref) = runs["ours"], runs["netket"]
    jax.tree.map(np.testing.assert_allclose, ours, ref)
    np.testing.assert_allclose(e_ours, e_ref, atol=1e-10)
    assert len(e_ours) == N_STEPS


def test_every_netket_keyword_with_its_default():
    ours = inspect.signature(nfv.driver.VMC_SR.__init__).parameters
    theirs = inspect.signature(nk.driver.VMC_SR.__init__).parameters
    for name, p in theirs.items():
        assert name in ours, name
        assert ours[name].kind == p.kind, name
        if name in ("linear_solver", "linear_solver_fn"):
            continue  # our solver is documented apart; the deprecated alias is checked below
        assert ours[name].default == p.default, name


def test_public_attributes_of_netket_driver():
    H = _system()[2]
    drivers = [
        cls(
            H,
            optax.sgd(0.01),
            variational_state=_state("rbm"),
            diag_shift=1e-2,
            proj_reg=0.1,
            use_ntk=True,
        )  # fmt: skip
        for cls in (nfv.driver.VMC_SR, nk.driver.VMC_SR)
    ]
    for attr in ("diag_shift", "proj_reg", "momentum", "mode", "on_the_fly", "use_ntk",
                 "chunk_size_bwd", "info", "optimizer", "state", "step_count"):  # fmt: skip
        values = [getattr(d, attr) for d in drivers]
        if attr not in ("optimizer", "state"):
            assert values[0] == values[1], attr
    for d in drivers:
        d.mode = "complex"
        assert d.mode == "complex"
        d.mode = None  # back to automatic
        assert d.mode == "real"
        with pytest.raises(ValueError):
            d.mode = "holomorphic"
        with pytest.raises(TypeError):
            d.chunk_size_bwd = 1.5
        with pytest.raises(ValueError):
            d.chunk_size_bwd = 0


@pytest.mark.parametrize(
    "kwargs,full_sum",
    [
        pytest.param(dict(use_ntk=True), True, id="fullsum-minsr"),
        pytest.param(dict(use_ntk=False, on_the_fly=True), False, id="onthefly-with-sr"),
    ],
)
def test_refused_as_netket_refuses(kwargs, full_sum):
    H = _system()[2]
    for cls in (nfv.driver.VMC_SR, nk.driver.VMC_SR):
        vs = _state("rbm", full_sum=full_sum)
        with pytest.raises(ValueError):
            cls(H, optax.sgd(0.01), variational_state=vs, diag_shift=1e-2, **kwargs)


def test_proj_reg_with_sr_is_refused_at_construction():
    vs = _state("rbm")
    with pytest.raises(ValueError, match="proj_reg=0.5 is only defined for minSR"):
        nfv.driver.VMC_SR(
            _system()[2], optax.sgd(0.01), variational_state=vs, diag_shift=1e-2, use_ntk=False,
            proj_reg=0.5,
        )  # fmt: skip
    assert vs._samples is None  # before any sampling


def test_linear_solver_fn_is_the_deprecated_alias():
    calls = []

    def solver(A, b):
        calls.append(A.shape)
        return nk.optimizer.solver.cholesky(A, b)

    with pytest.warns(FutureWarning, match="linear_solver_fn"):
        driver = nfv.driver.VMC_SR(
            _system()[2], optax.sgd(0.01), variational_state=_state("rbm"), diag_shift=1e-2,
            linear_solver_fn=solver,
        )  # fmt: skip
    driver.run(1, show_progress=False)
    assert calls  # the alias was used
