r"""Projection of a wave function onto the totally symmetric sector of the lattice.

.. math::

    \log\psi_{\mathrm{sym}}(\sigma) = \log \frac{1}{|G|} \sum_{g \in G} \chi(g)\, \psi(g\sigma)

with :math:`\chi \equiv 1` except for the spin-flip partner of odd parity.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from netket.jax import logsumexp_cplx

from netket_factored_vit._src.models.symmetry_group import SymmetryGroup

_TRANSLATIONS = ("patch", "all", "none")


def _site_maps_point_group(lx: int, ly: int, *, rotations_only: bool = False) -> list:
    """Coordinate maps of the point group fixing site (0, 0) of the torus (only its
    rotations with ``rotations_only``), with their names."""
    maps = [  # (map, is a rotation, name)
        (lambda x, y: (x, y), True, "identity"),
        (lambda x, y: (-x, y), False, "mirror x"),
        (lambda x, y: (x, -y), False, "mirror y"),
        (lambda x, y: (-x, -y), True, "rotation by 180"),
    ]
    if lx == ly:
        maps += [
            (lambda x, y: (y, x), False, "diagonal mirror"),
            (lambda x, y: (-y, x), True, "rotation by 90"),
            (lambda x, y: (y, -x), True, "rotation by 270"),
            (lambda x, y: (-y, -x), False, "antidiagonal mirror"),
        ]
    return [(m, name) for m, rotation, name in maps if rotation or not rotations_only]


def symmetry_permutations(
    lattice_shape: tuple[int, int],
    *,
    patch_size: int = 1,
    translations: str = "patch",
    point_group: bool = True,
    rotations_only: bool = False,
) -> np.ndarray:
    r"""Site permutations of the group summed over by :class:`Symmetrized`.

    The group elements are :math:`p \circ t` with :math:`t` a translation and
    :math:`p` a point-group operation about site ``(0, 0)``. A configuration is
    transformed by gathering, ``sigma[..., perms[g]]``.

    Args:
        lattice_shape: ``(Lx, Ly)``.
        patch_size: side :math:`b` of the patches (used by ``translations="patch"``).
        translations: ``"patch"`` for the :math:`b^2` shifts inside a patch, ``"all"`` for every
            lattice translation, ``"none"`` for no translation.
        point_group: include C4v (8 operations) on a square lattice, or the 4 operations
            :math:`\{1, m_x, m_y, C_2\}` of a rectangle when ``Lx != Ly``.
        rotations_only: with ``point_group``, only its rotations: C4 (4 operations) on a
            square lattice, :math:`\{1, C_2\}` on a rectangle.

    Returns:
        An integer array of shape ``(|G|, Lx * Ly)``; row 0 is the identity.
    """
    return _images(
        lattice_shape,
        patch_size=patch_size,
        translations=translations,
        point_group=point_group,
        rotations_only=rotations_only,
    )[0]


def _images(lattice_shape, *, patch_size, translations, point_group, rotations_only):
    """The permutations of :func:`symmetry_permutations` and a name for each."""
    lx, ly = lattice_shape
    if translations == "patch":
        shifts = [(u, v) for u in range(patch_size) for v in range(patch_size)]
    elif translations == "all":
        shifts = [(u, v) for u in range(lx) for v in range(ly)]
    elif translations == "none":
        shifts = [(0, 0)]
    else:
        raise ValueError(f"Unknown translations={translations!r}; allowed: {list(_TRANSLATIONS)}.")
    points = (
        _site_maps_point_group(lx, ly, rotations_only=rotations_only)
        if point_group
        else [(lambda x, y: (x, y), "identity")]
    )
    x, y = np.divmod(np.arange(lx * ly), ly)
    perms, names = [], []
    for p, point_name in points:
        for u, v in shifts:
            px, py = p(x + u, y + v)
            perms.append((px % lx) * ly + py % ly)
            shift = f"shift by ({u}, {v})"
            if (u, v) == (0, 0):
                names.append(point_name)
            else:
                names.append(shift if point_name == "identity" else f"{point_name} . {shift}")
    return np.asarray(perms, dtype=np.int32), names


class Symmetrized(nn.Module):
    r"""Projects a model onto the totally symmetric sector of translations and point group.

    .. math::

        \log\psi_{\mathrm{sym}}(\sigma) =
        \mathrm{logsumexp}_{g \in G} \left[\log\psi(g\sigma) + \log\chi(g)\right] - \log|G|.

    With the default ``translations="patch"``, :math:`G` holds the :math:`b^2` shifts inside
    a patch times the point group: since the ViT is already invariant under translations by
    whole patches, the result is invariant under every lattice translation and every point
    group operation (C4v on a square lattice; on an :math:`L_x \neq L_y` rectangle the
    4-element group of the two mirrors and the :math:`\pi` rotation). For a model without
    patch invariance use ``translations="all"``.

    With ``spin_flip=True`` the configurations :math:`-g\sigma` are added with character
    ``parity`` (:math:`\pm 1`).

    Configurations must hold spins :math:`\pm 1` (NetKet's ``Spin(0.5)``); they are not
    checked, as inside ``jit`` that would cost a pass over every batch. With 0/1
    occupations the flip :math:`-\sigma` gives 0/-1, which is no configuration at all, and
    every amplitude is silently wrong: convert them with ``2 * n - 1``.

    The wrapped model's parameters live under ``"model"``: to symmetrize a trained model,
    use ``{"params": {"model": vstate.parameters}}`` as the variables of the wrapper.
    """

    model: nn.Module | None = None
    """The wave function to symmetrize (a module returning log-amplitudes of shape (B,))."""
    lattice_shape: tuple[int, int] | None = None
    """Sides ``(Lx, Ly)`` of the lattice; None reads ``model.lattice_shape``."""
    patch_size: int | None = None
    """Side of the patches whose inner shifts are summed; None reads ``model.patch_size``."""
    translations: str = "patch"
    """Translations in the group: ``"patch"`` (shifts inside a patch), ``"all"`` or ``"none"``."""
    point_group: bool = True
    """Include the point group (C4v, or the 4-element group of a rectangle)."""
    rotations_only: bool = False
    r"""With ``point_group``, only its rotations (C4 on a square, :math:`\{1, C_2\}` on a
    rectangle): half the images, and no constraint from the mirrors."""
    spin_flip: bool = False
    r"""Include the global spin flip :math:`\sigma \to -\sigma` (spins must be :math:`\pm 1`)."""
    parity: int = 1
    """Character (+1 or -1) of the spin flip, used when ``spin_flip`` is True."""

    def __post_init__(self):
        if self.model is None:
            raise ValueError("Symmetrized needs a model to wrap, e.g. Symmetrized(model=ViT(...)).")
        if self.translations not in _TRANSLATIONS:
            raise ValueError(
                f"Unknown translations={self.translations!r}; allowed: {list(_TRANSLATIONS)}."
            )
        if self.parity not in (1, -1):
            raise ValueError(f"parity={self.parity!r} must be +1 or -1.")
        if self._lattice_shape() is None:
            raise ValueError(
                f"lattice_shape is None and {type(self.model).__name__} has no lattice_shape; "
                "pass lattice_shape=(Lx, Ly)."
            )
        if self.translations == "patch" and self._patch_size() is None:
            raise ValueError(
                f"patch_size is None and {type(self.model).__name__} has no patch_size; pass "
                "patch_size or translations='all'."
            )
        super().__post_init__()

    def _lattice_shape(self):
        if self.lattice_shape is not None:
            return tuple(self.lattice_shape)
        shape = getattr(self.model, "lattice_shape", None)
        return None if shape is None else tuple(shape)

    def _patch_size(self):
        if self.patch_size is not None:
            return self.patch_size
        return getattr(self.model, "patch_size", None)

    @property
    def permutations(self) -> np.ndarray:
        """The site permutations of the group, shape ``(|G|, N)`` (without the spin flip)."""
        return symmetry_permutations(
            self._lattice_shape(),
            patch_size=self._patch_size() or 1,
            translations=self.translations,
            point_group=self.point_group,
            rotations_only=self.rotations_only,
        )

    @property
    def symmetry_group(self) -> SymmetryGroup:
        r"""The group under which the projected state is invariant: generated by the images
        summed over (with the spin flip when ``spin_flip`` and ``parity = +1``) and by the
        wrapped model's own ``symmetry_group``, if it has one. With the ViT's whole-patch
        translations and the point group this is every translation times the point group
        (128 elements on 4x4 with ``translations="patch"``, 32 with ``"none"``)."""
        perms, names = _images(
            self._lattice_shape(),
            patch_size=self._patch_size() or 1,
            translations=self.translations,
            point_group=self.point_group,
            rotations_only=self.rotations_only,
        )
        generators = [(p, False, name) for p, name in zip(perms, names, strict=True)]
        if self.spin_flip and self.parity == 1:
            generators.append((perms[0], True, "spin flip"))
        inner = getattr(self.model, "symmetry_group", None)
        if isinstance(inner, SymmetryGroup):
            generators += inner.generators()
        return SymmetryGroup.generated_by(perms.shape[1], generators)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        perms = self.permutations
        n_sites = perms.shape[1]
        if x.shape[-1] != n_sites:
            raise ValueError(
                f"Input configurations have length {x.shape[-1]}, but lattice_shape="
                f"{self._lattice_shape()} has {n_sites} sites."
            )
        batch_shape = x.shape[:-1]
        x = x.reshape(-1, n_sites)
        xg = x[:, perms]
        if self.spin_flip:
            xg = jnp.concatenate([xg, -xg], axis=1)
        n_terms = xg.shape[1]
        log_psi = self.model(xg.reshape(-1, n_sites)).reshape(-1, n_terms)
        if self.spin_flip and self.parity == -1:
            phase = np.where(np.arange(n_terms) < len(perms), 0.0, np.pi)
            log_psi = log_psi + 1j * jnp.asarray(phase, dtype=log_psi.real.dtype)
        out = logsumexp_cplx(log_psi, axis=-1) - np.log(n_terms)
        return out.reshape(batch_shape)
