"""What a run records in its log besides the driver's own entries."""

from __future__ import annotations

import numpy as np


class InputDependenceRecorder:
    r"""A NetKet callback that logs ``input_dependence``, an array of shape
    ``(num_layers, num_heads)`` (see :func:`netket_factored_vit.analysis.input_dependence`),
    every ``every`` steps, measured on the first ``n_samples`` samples of the step.

    It runs before the parameter update, on the samples the step used, so it draws no
    samples of its own and leaves the trajectory unchanged. Only rank 0 measures.
    """

    def __init__(self, model, *, every: int, n_samples: int, is_root: bool = True):
        self.model = model
        self.every = every
        self.n_samples = n_samples
        self.is_root = is_root

    def __call__(self, step, log_data, driver) -> bool:
        if not self.is_root or step % self.every:
            return True
        state = driver.state
        sigma = np.asarray(state.samples).reshape(-1, state.hilbert.size)[: self.n_samples]
        from netket_factored_vit import analysis

        log_data["input_dependence"] = np.asarray(
            analysis.input_dependence(self.model, state.variables, sigma)
        )
        return True


class NonMarshallRecorder:
    r"""A NetKet callback that logs ``non_marshall_fraction``: the fraction of the step's
    samples whose sign, the global phase aligned, is against Marshall's sign rule (see
    :func:`netket_factored_vit.analysis.non_marshall_fraction`).

    A run of the frustrated J1-J2 model whose fraction stays near zero has locked onto
    Marshall's sign, a real state that SR leaves only slowly. It runs before the
    parameter update, on the step's samples (rank 0's under MPI), so it draws no
    samples of its own and leaves the trajectory unchanged. It measures the state's own
    model, so during a pretraining the bare ViT.
    """

    def __init__(self, lattice_shape: tuple[int, int], *, is_root: bool = True):
        self.lattice_shape = tuple(lattice_shape)
        self.is_root = is_root

    def __call__(self, step, log_data, driver) -> bool:
        if not self.is_root:
            return True
        from netket_factored_vit import analysis

        state = driver.state
        log_data["non_marshall_fraction"] = analysis.non_marshall_fraction(
            state.model, state.variables, state.samples, self.lattice_shape
        )
        return True
