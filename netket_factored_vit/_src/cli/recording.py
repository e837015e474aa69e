"""What a run records in its log besides the driver's own entries."""

from __future__ import annotations

import numpy as np


def step_configurations(state, n_samples: int, step: int) -> np.ndarray:
    """The step's samples (the first ``n_samples``), or, for an exact state without
    samples, ``n_samples`` representatives drawn with their orbit probabilities (seeded
    by the step, so the run stays deterministic)."""
    from netket_factored_vit.vqs import OrbitSumState

    if isinstance(state, OrbitSumState):
        p = np.asarray(state.orbit_probabilities(), dtype=np.float64)
        rng = np.random.default_rng(step)
        picks = rng.choice(len(p), size=n_samples, p=p / p.sum())
        return np.asarray(state.representatives)[picks]
    return np.asarray(state.samples).reshape(-1, state.hilbert.size)[:n_samples]


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
        sigma = step_configurations(state, self.n_samples, step)
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
    samples of its own and leaves the trajectory unchanged; samples of :math:`|\psi|^p`
    (``--sampling-power``) are reweighted by :math:`|\psi|^{2-p}`. It measures the state's
    own model, so during a pretraining the bare ViT. On an exact state
    (:class:`~netket.vqs.FullSumState`, :class:`~netket_factored_vit.vqs.OrbitSumState`)
    it logs the exact weight against Marshall's sign instead
    (:func:`~netket_factored_vit.analysis.non_marshall_weight`).
    """

    def __init__(self, lattice_shape: tuple[int, int], *, is_root: bool = True):
        self.lattice_shape = tuple(lattice_shape)
        self.is_root = is_root
        self._marshall = None

    def __call__(self, step, log_data, driver) -> bool:
        if not self.is_root:
            return True
        from netket.vqs import FullSumState

        from netket_factored_vit import analysis

        state = driver.state
        if isinstance(state, FullSumState):
            psi, marshall = self._exact_amplitudes(state)
            log_data["non_marshall_fraction"] = analysis.non_marshall_weight(psi, marshall)
            return True
        log_data["non_marshall_fraction"] = analysis.non_marshall_fraction(
            state.model,
            state.variables,
            state.samples,
            self.lattice_shape,
            sampling_power=float(state.sampler.machine_pow),
        )
        return True

    def _exact_amplitudes(self, state):
        r"""Amplitudes and Marshall's signs of an exact state: on the orbits of an
        :class:`~netket_factored_vit.vqs.OrbitSumState` (amplitude :math:`\sqrt{p_r}` with
        the phase of :math:`\psi(r)`) when Marshall's sign is the same on every element of
        each orbit, else on the whole basis."""
        from netket_factored_vit import analysis
        from netket_factored_vit.vqs import OrbitSumState

        if self._marshall is None or self._marshall[0] is not state:
            self._marshall = None  # a new state (the projection after a pretraining)
            if isinstance(state, OrbitSumState):
                group, reps = state.symmetry_group, np.asarray(state.representatives)
                signs = [
                    analysis.marshall_signs(group.apply(reps, k), self.lattice_shape)
                    for k in range(len(group))
                ]
                if all(np.array_equal(s, signs[0]) for s in signs):
                    self._marshall = (state, "orbits", signs[0])
            if self._marshall is None:
                states = np.asarray(state.hilbert.all_states())
                marshall = analysis.marshall_signs(states, self.lattice_shape)
                self._marshall = (state, "basis", marshall)
        _, where, marshall = self._marshall
        if where == "orbits":
            p = np.asarray(state.orbit_probabilities())
            phases = np.exp(1j * np.asarray(state.log_representatives()).imag)
            return np.sqrt(p) * phases, marshall
        return np.asarray(state.to_array()), marshall
