"""Centred-difference numerical gradients, shared by every exercise."""
import numpy as np


def numerical_gradient(f, x, h=1e-5):
    """Gradient of the scalar function f at x, same shape as x.

    Each element is (f(x + h e_i) - f(x - h e_i)) / (2 h); x is not changed.
    """
    x = np.array(x, dtype=float)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        up = f(x)
        x[i] = old - h
        down = f(x)
        x[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


def relative_error(a, b):
    """max |a - b| / max(|a| + |b|, tiny): below 1e-6 means the gradients agree."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-12)))
