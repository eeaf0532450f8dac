"""Plots and controls the notebooks share. They draw; they never compute an answer."""
import matplotlib.pyplot as plt
import numpy as np


def plot_points(X, y, ax=None, title=None):
    """Scatter 2-D points X (N, 2) with labels y (N,): 1 as a blue plus, 0 as a red minus."""
    ax = ax or plt.gca()
    X, y = np.asarray(X), np.asarray(y)
    ax.scatter(*X[y == 1].T, marker="P", s=120, c="tab:blue", label="label 1")
    ax.scatter(*X[y == 0].T, marker="_", s=160, linewidths=3, c="tab:red", label="label 0")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small")
    return ax


def plot_regions(predict, ax=None, xlim=(0, 1), ylim=(0, 1), steps=200):
    """Shade where predict (M, 2) -> (M,) says 1 (blue) or 0 (red), and draw the border."""
    ax = ax or plt.gca()
    xs, ys = np.linspace(*xlim, steps), np.linspace(*ylim, steps)
    gx, gy = np.meshgrid(xs, ys)
    z = np.asarray(predict(np.c_[gx.ravel(), gy.ravel()]), float).reshape(gx.shape)
    ax.contourf(gx, gy, z, levels=[-0.5, 0.5, 1.5], colors=["#f4c7c3", "#c6dbef"], alpha=0.8)
    if z.min() < 0.5 < z.max():
        ax.contour(gx, gy, z, levels=[0.5], colors="k", linewidths=1)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    return ax


def explore(draw, **controls):
    """Redraw `draw(**values)` whenever a control moves (ipywidgets.interactive).

    controls are ipywidgets widgets or interact abbreviations, e.g. step=(0, 10).
    Where no widget front end is present (nbconvert, GitHub), the first figure
    is shown as a plain image instead.
    """
    import ipywidgets
    from IPython.display import display
    from IPython.utils.capture import capture_output

    panel = ipywidgets.interactive(draw, **controls)
    with capture_output() as first:
        draw(**{w._kwarg: w.get_interact_value() for w in panel.kwargs_widgets})
    bundle = dict(panel._repr_mimebundle_())
    for output in first.outputs:
        bundle.setdefault("image/png", output.data.get("image/png"))
    bundle = {k: v for k, v in bundle.items() if v is not None}
    display(bundle, raw=True)
    panel.update()
    return panel
