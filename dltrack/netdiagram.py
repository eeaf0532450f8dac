"""A drawing of a small fully connected network, with a number beside each neuron.

Section 6 steps through one backward pass with it. It only draws: every number
it shows is computed by the caller (with the student's own functions).
"""
import matplotlib.pyplot as plt
import numpy as np


def draw_network(sizes, labels, values=None, edges=None, highlight=None, ax=None, title=None):
    """Draw a network as columns of circles, one column a layer, input on the left.

    sizes     -- neurons per layer, input first, e.g. [2, 3, 2, 1]
    labels    -- labels[l][j]: text beside neuron j of layer l ("" for none)
    values    -- values[l] of shape (sizes[l],) colours layer l's neurons by sign (red < 0 < blue),
                 darker for larger values within the layer; None (or values[l] None) leaves them white
    edges     -- edges[l] of shape (sizes[l + 1], sizes[l]): widths of the lines of
                 weight matrix l by size, red < 0 < blue; None for thin grey lines
    highlight -- index l of a weight matrix whose lines are drawn dark, or None
    """
    ax = ax or plt.gca()
    dx, dy, r = 1.6, 1.25, 0.2
    top = max(sizes)
    where = [[(l * dx, ((n - 1) / 2 - j) * dy) for j in range(n)] for l, n in enumerate(sizes)]
    biggest = max((np.abs(e).max() for e in (edges or []) if e is not None), default=0.0) or 1.0
    cmap = plt.get_cmap("RdBu")
    for l in range(len(sizes) - 1):
        for j, (x1, y1) in enumerate(where[l + 1]):
            for k, (x0, y0) in enumerate(where[l]):
                if edges is not None and edges[l] is not None:
                    e = edges[l][j, k]
                    ax.plot([x0, x1], [y0, y1], color=cmap(0.5 + 0.45 * e / biggest),
                            lw=0.5 + 6 * abs(e) / biggest, zorder=1)
                else:
                    dark = highlight == l
                    ax.plot([x0, x1], [y0, y1], color="0.15" if dark else "0.8",
                            lw=2.0 if dark else 0.8, zorder=1)
    for l, column in enumerate(where):
        row = None if values is None else values[l]
        scale = np.abs(row).max() if row is not None and np.abs(row).max() > 0 else 1.0
        for j, (x, y) in enumerate(column):
            # each layer on its own scale: the colour shows the sign, the label the size
            face = "white" if row is None else cmap(0.5 + np.sign(row[j]) * (0.1 + 0.35 * abs(row[j]) / scale))
            ax.add_patch(plt.Circle((x, y), r, facecolor=face, edgecolor="k", zorder=2))
            if labels[l][j]:
                ax.text(x, y - r - 0.05, labels[l][j], ha="center", va="top", fontsize=9, zorder=3,
                        bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
    names = ["input"] + [f"layer {l}" for l in range(1, len(sizes))]
    for l, name in enumerate(names):
        ax.text(l * dx, (top - 1) / 2 * dy + 0.45, name, ha="center", va="bottom", fontsize=10)
    ax.set_xlim(-0.8, (len(sizes) - 1) * dx + 0.8)
    ax.set_ylim(-(top - 1) / 2 * dy - 0.9, (top - 1) / 2 * dy + 0.8)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=11)
    return ax
