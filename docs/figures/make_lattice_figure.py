"""Draw the two lattices of the package with their bonds: docs/figures/lattices.png.

    .venv/bin/python docs/figures/make_lattice_figure.py

Left: the 4x4 J1-J2 lattice (nearest-neighbour J1 bonds, diagonal J2 bonds). Right: the
4x4 Shastry-Sutherland lattice (square-lattice J bonds, dimer J' bonds). Both are periodic:
a bond that leaves the drawing re-enters on the opposite side, and is drawn as a stub to a
faded copy of the site it reaches. The grey squares are the 2x2 patches that form the
ViT's tokens. The bonds are read from the package's own graphs (`system.graph`, edge colour
= coupling), so the figure shows exactly what the Hamiltonians contain.
"""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

import netket_factored_vit as nfv

OUT = Path(__file__).resolve().parent / "lattices.png"
STYLE = {
    ("j1j2", 0): {"color": "C0", "lw": 2.0, "ls": "-", "label": "$J_1$"},
    ("j1j2", 1): {"color": "C1", "lw": 1.2, "ls": "--", "label": "$J_2$"},
    ("shastry_sutherland", 0): {"color": "C0", "lw": 2.0, "ls": "-", "label": "$J$"},
    ("shastry_sutherland", 1): {"color": "C3", "lw": 4.0, "ls": "-", "label": "$J'$ (dimers)"},
}


def minimal_image(d: int, L: int) -> int:
    """The displacement d on a ring of L sites, in (-L/2, L/2]."""
    d %= L
    return d - L if d > L // 2 else d


def draw(subfigure, system, title: str) -> None:
    ax = subfigure.subplots()
    Lx, Ly = system.lattice_shape
    position = {x * Ly + y: (x, y) for x in range(Lx) for y in range(Ly)}
    for px in range(0, Lx, 2):  # the ViT's 2x2 patches (tokens)
        for py in range(0, Ly, 2):
            ax.add_patch(
                Rectangle((px - 0.4, py - 0.4), 1.8, 1.8, color="0.92", zorder=0, ec="0.75", lw=0.8)
            )
    ghosts = set()
    for i, j, colour in system.graph.edges(return_color=True):
        style = {k: v for k, v in STYLE[(system.kind, colour)].items() if k != "label"}
        (xi, yi), (xj, yj) = position[i], position[j]
        dx, dy = minimal_image(xj - xi, Lx), minimal_image(yj - yi, Ly)
        for (x0, y0), (sx, sy) in (((xi, yi), (dx, dy)), ((xj, yj), (-dx, -dy))):
            x1, y1 = x0 + sx, y0 + sy
            ax.add_line(Line2D([x0, x1], [y0, y1], zorder=1, **style))
            if not (0 <= x1 < Lx and 0 <= y1 < Ly):
                ghosts.add((x1, y1))
    ax.scatter(*np.array(list(position.values())).T, s=60, c="k", zorder=3)
    if ghosts:
        ax.scatter(*np.array(sorted(ghosts)).T, s=40, c="0.7", zorder=3)
    for i, (x, y) in position.items():
        ax.annotate(str(i), (x, y), xytext=(5, 4), textcoords="offset points", fontsize=7)
    ax.set_xlim(-1.3, Lx + 0.3)
    ax.set_ylim(-1.3, Ly + 0.3)
    ax.set_aspect("equal")
    ax.set_xticks(range(Lx))
    ax.set_yticks(range(Ly))
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title)
    handles = [
        Line2D([], [], **{k: v for k, v in s.items() if k != "label"}, label=s["label"])
        for (kind, _), s in STYLE.items()
        if kind == system.kind
    ]
    handles.append(Rectangle((0, 0), 1, 1, color="0.92", ec="0.75", label="2x2 patch (token)"))
    subfigure.legend(handles=handles, loc="outside lower center", ncols=3)


def main() -> None:
    figure = Figure(figsize=(10, 5.6), layout="constrained")
    left, right = figure.subfigures(1, 2)
    draw(left, nfv.systems.j1j2(4, 0.5), "J1-J2, 4x4, periodic")
    draw(right, nfv.systems.shastry_sutherland(4, 0.5, 1.0), "Shastry-Sutherland, 4x4, periodic")
    figure.savefig(OUT, dpi=110)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
