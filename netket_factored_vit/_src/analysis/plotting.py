"""Figures of a run: energy against the step, attention heat maps, input dependence.

Everything is drawn with matplotlib's non-interactive ``Agg`` backend, so it works
without a display; figures are returned and, when a path is given, saved as PNG.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from netket_factored_vit._src.analysis.logs import energy_per_site, history

_TINY = 1e-16
"""Floor of the relative error on a logarithmic axis."""


def _new_figure(**kwargs) -> Figure:
    # A bare Figure (not pyplot) uses the Agg canvas and is never registered with a
    # GUI backend: nothing to close, nothing shown.
    return Figure(layout="constrained", **kwargs)


def _save(figure: Figure, path: str | Path | None) -> None:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png", dpi=120)


def _is_single_log(logs: Mapping) -> bool:
    return "Energy" in logs or "energy_per_site" in logs


def plot_energy(
    logs: Mapping[str, Any],
    *,
    n_sites: int,
    reference: float | None = None,
    path: str | Path | None = None,
    labels: Sequence[str] | None = None,
) -> Figure:
    r"""Energy per site against the step, with the relative error on a log scale.

    The top panel shows :math:`E/N` (with its statistical error as a band when the log
    has NetKet's ``Energy`` statistics) and ``reference`` as a horizontal line; the
    bottom panel, drawn when ``reference`` is given, shows
    :math:`|E/N - E_\mathrm{ref}| / |E_\mathrm{ref}|` on a logarithmic axis.

    Args:
        logs: one JsonLog dict (see :func:`load_log`), or a mapping from a name to a
            JsonLog dict to draw several runs (e.g. one per attention).
        n_sites: number of sites :math:`N`, to turn NetKet's total ``Energy`` into
            :math:`E/N` when the log has no ``energy_per_site``.
        reference: reference energy per site, or None.
        path: where to save the figure as PNG, or None.
        labels: curve labels, one per log; default the mapping's names.

    Returns:
        The matplotlib figure.
    """
    if isinstance(n_sites, bool) or not isinstance(n_sites, int | np.integer) or n_sites < 1:
        raise ValueError(f"n_sites must be a positive integer, got {n_sites!r}.")
    if not isinstance(logs, Mapping) or not logs:
        raise ValueError(
            "logs must be a JsonLog dict or a non-empty mapping name -> JsonLog dict, got "
            f"{type(logs).__name__}."
        )
    if reference is not None:
        if isinstance(reference, bool) or not isinstance(reference, numbers.Real):
            raise ValueError(f"reference must be a real number or None, got {reference!r}.")
        if not math.isfinite(reference) or reference == 0:
            raise ValueError(
                f"reference must be a finite non-zero energy per site (the relative error "
                f"divides by it), got {reference!r}."
            )
        reference = float(reference)
    runs = {"": logs} if _is_single_log(logs) else dict(logs)
    for name, log in runs.items():
        if not isinstance(log, Mapping) or not _is_single_log(log):
            raise ValueError(
                f"logs[{name!r}] is not a JsonLog dict with 'energy_per_site' or 'Energy'."
            )
    if labels is None:
        labels = list(runs)
    elif len(labels) != len(runs):
        raise ValueError(f"labels has {len(labels)} entries for {len(runs)} logs.")

    figure = _new_figure(figsize=(6.4, 6.4 if reference is not None else 4.0))
    if reference is not None:
        top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    else:
        top, bottom = figure.subplots(1, 1), None
    for label, log in zip(labels, runs.values(), strict=True):
        iters, values, error = energy_per_site(log, n_sites)
        (line,) = top.plot(iters, values, label=label or None, lw=1.2)
        if error is not None:
            top.fill_between(
                iters, values - error, values + error, color=line.get_color(), alpha=0.25
            )
        if bottom is not None:
            relative = np.maximum(np.abs(values - reference) / abs(reference), _TINY)
            bottom.semilogy(iters, relative, color=line.get_color(), lw=1.2)
    if reference is not None:
        top.axhline(reference, color="k", ls="--", lw=1, label=f"reference {reference:.6f}")
        bottom.set_ylabel("relative error")
        bottom.set_xlabel("step")
        bottom.grid(True, which="both", alpha=0.3)
    else:
        top.set_xlabel("step")
    top.set_ylabel("E / N")
    top.grid(True, alpha=0.3)
    if any(labels) or reference is not None:
        top.legend()
    _save(figure, path)
    return figure


def plot_attention(
    maps: Any, path: str | Path | None = None, *, title: str | None = None
) -> Figure:
    """Heat maps of attention weights, one row per layer and one column per head.

    Args:
        maps: a :func:`positional_profile` array ``(L, H, nx, ny)`` (entry ``[.., 0, 0]``
            is the zero displacement, drawn top left), an attention map ``(L, H, n, n)``
            (rows: the reading token ``i``, columns: the token read ``j``), or the
            output ``(L, B, H, n, n)`` of :func:`attention_maps`, which is averaged over
            the batch.
        path: where to save the figure as PNG, or None.
        title: figure title.

    Returns:
        The matplotlib figure. Weights of both signs are drawn with a diverging colour
        map centred at 0, non-negative ones with a sequential map; one colour scale is
        shared by all panels.
    """
    maps = np.asarray(maps)
    if maps.ndim == 5:
        maps = maps.mean(axis=1)
    if maps.ndim != 4 or 0 in maps.shape:
        raise ValueError(
            "plot_attention needs an array of shape (layers, heads, a, b), or "
            f"(layers, batch, heads, n, n) from attention_maps; got shape {maps.shape}."
        )
    maps = maps.real.astype(float)
    layers, heads = maps.shape[:2]
    if maps.min() < 0:
        bound = float(np.abs(maps).max()) or 1.0
        style = {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound}
    else:
        style = {"cmap": "viridis", "vmin": 0.0, "vmax": float(maps.max()) or 1.0}
    figure = _new_figure(figsize=(2.2 * heads + 1.0, 2.2 * layers + (0.4 if title else 0.0)))
    axes = np.atleast_2d(figure.subplots(layers, heads, squeeze=False))
    for l in range(layers):  # noqa: E741 - l is the layer index of the formulas
        for h in range(heads):
            ax = axes[l, h]
            image = ax.imshow(maps[l, h], interpolation="nearest", **style)
            ax.set_title(f"layer {l}, head {h}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    figure.colorbar(image, ax=axes, shrink=0.8)
    if title:
        figure.suptitle(title)
    _save(figure, path)
    return figure


def plot_input_dependence(log: Mapping[str, Any], path: str | Path | None = None) -> Figure:
    """Input dependence of every layer and head against the step.

    Args:
        log: a JsonLog dict whose entry ``"input_dependence"`` holds an array of shape
            ``(num_layers, num_heads)`` (see :func:`input_dependence`) at some steps.
        path: where to save the figure as PNG, or None.

    Returns:
        The matplotlib figure: one line per layer and head, colour by layer, line
        style by head.
    """
    if "input_dependence" not in log:
        raise ValueError(
            f"The log has no 'input_dependence' entry (recorded for T5 and decoupled "
            f"attention); it has {sorted(log)}."
        )
    entry = log["input_dependence"]
    iters = np.asarray(entry["iters"], dtype=int)
    values = np.asarray(entry["value"], dtype=float)
    if values.ndim == 2:
        values = values[:, None, :]
    if values.ndim != 3 or len(values) != len(iters):
        raise ValueError(
            "log['input_dependence'] must hold one (num_layers, num_heads) array per logged "
            f"step; got values of shape {values.shape} for {len(iters)} steps."
        )
    _, layers, heads = values.shape
    figure = _new_figure(figsize=(6.4, 4.0))
    ax = figure.subplots()
    styles = ["-", "--", ":", "-."]
    for l in range(layers):  # noqa: E741
        color = f"C{l % 10}"
        for h in range(heads):
            ax.plot(
                iters,
                values[:, l, h],
                color=color,
                ls=styles[h % len(styles)],
                marker="o",
                ms=3,
                label=f"layer {l}, head {h}",
            )
    ax.set_xlabel("step")
    ax.set_ylabel("input dependence")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncols=max(1, heads))
    _save(figure, path)
    return figure


NON_MARSHALL_WINDOW = 10
"""Steps in the running mean of :func:`plot_non_marshall`."""
_NON_MARSHALL_FLOOR = 1e-5
"""Floor of the non-Marshall fraction on the logarithmic axis (no sample against it)."""


def plot_non_marshall(log: Mapping[str, Any], path: str | Path | None = None) -> Figure:
    """The fraction of the samples against Marshall's sign against the step.

    Args:
        log: a JsonLog dict with the entry ``"non_marshall_fraction"`` (written by
            ``nfv run`` on lattices with both sides even; see
            :func:`non_marshall_fraction`).
        path: where to save the figure as PNG, or None.

    Returns:
        The matplotlib figure: each step's fraction (dots) and its running mean over
        :data:`NON_MARSHALL_WINDOW` steps (line), on a logarithmic axis whose floor,
        1e-5, stands for steps with no sample against Marshall's sign.
    """
    if "non_marshall_fraction" not in log:
        raise ValueError(
            "The log has no 'non_marshall_fraction' entry (recorded by nfv run on lattices "
            f"with both sides even); it has {sorted(log)}."
        )
    iters, values = history(log, "non_marshall_fraction")
    window = min(NON_MARSHALL_WINDOW, max(len(values), 1))
    running = np.convolve(values, np.ones(window) / window, mode="valid")
    figure = _new_figure(figsize=(6.4, 4.0))
    ax = figure.subplots()
    ax.semilogy(iters, np.maximum(values, _NON_MARSHALL_FLOOR), ".", ms=3, alpha=0.4,
                label="each step")  # fmt: skip
    ax.semilogy(iters[window - 1 :], np.maximum(running, _NON_MARSHALL_FLOOR), lw=1.5,
                label=f"mean of {window} steps")  # fmt: skip
    ax.set_xlabel("step")
    ax.set_ylabel("fraction of samples against Marshall's sign")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    _save(figure, path)
    return figure
