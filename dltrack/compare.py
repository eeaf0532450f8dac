"""Plain data: what an answer is made of, how two answers differ, and how answers travel.

Shared by the student's self-check (dltrack.check), the misconception catalog
(dltrack.catalog) and the grader's judge (dltrack.judge). Nothing here runs a
student's code: `plain` copies an answer once, and everything after works on
that copy.

`to_wire` / `from_wire` carry plain data from the grading kernel to the judge
as JSON: numbers, strings, tuples, lists, dicts with string keys, NumPy arrays
of numbers (dtype, shape and the raw bytes) and the names of other objects.
"""
import base64
import math

import numpy as np

nan, inf = math.nan, math.inf
NUMBER_KINDS = "biufc"


class Opaque:
    """An answer that is not made of numbers, kept only as the name of its type."""

    def __init__(self, type_name):
        self.type_name = type_name

    def __repr__(self):
        return f"an object of type {self.type_name}"

    def __eq__(self, other):
        return isinstance(other, Opaque) and other.type_name == self.type_name


def plain(value):
    """A copy of `value` made of plain Python and NumPy values, taken once."""
    if value is None or type(value) in (bool, int, float, complex, str):
        return value
    if type(value) in (tuple, list):
        return type(value)(plain(v) for v in value)
    if type(value) is dict:
        return {k: plain(v) for k, v in value.items()} if all(type(k) is str for k in value) \
            else Opaque("dict")
    try:
        array = np.array(value, copy=True)  # a plain ndarray: its subclass and methods are gone
    except Exception:  # noqa: BLE001 - a student's object can fail anyhow
        return Opaque(type(value).__name__)
    if array.dtype.kind not in NUMBER_KINDS:
        return Opaque(type(value).__name__)
    return array if array.ndim else array[()]


def same(a, b):
    """True when two plain values are equal, arrays element for element (nan equal to nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def show(value, width=300):
    """A short, readable text of a value: arrays by shape, dtype and values."""
    if isinstance(value, np.ndarray):
        with np.printoptions(precision=6, threshold=30, edgeitems=3):
            body = np.array2string(value, separator=", ")
        body = " ".join(body.split())
        text = f"array of shape {value.shape}, dtype {value.dtype}: {body}"
    elif isinstance(value, np.generic):
        text = repr(value.item())
    elif isinstance(value, dict):
        text = ", ".join(f"{k}={show(v, width)}" for k, v in value.items())
    elif type(value) in (list, tuple) and any(isinstance(v, np.generic) for v in value):
        # a list of NumPy numbers reads as a list of numbers, not np.float64(...) each
        text = repr(type(value)(v.item() if isinstance(v, np.generic) else v for v in value))
    else:
        text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def kind(value):
    """"float", "int" or NumPy's letter for the kind of number `value` holds."""
    dtype = np.array(value).dtype
    return "float" if dtype.kind == "f" else "int" if dtype.kind in "iub" else dtype.kind


def numeric(value):
    try:
        return np.array(value).dtype.kind in "biuf"
    except Exception:  # noqa: BLE001
        return False


def wrong_type(got, expected):
    """None when `got` is the kind of value `expected` is, else one sentence saying how not.

    An array must come back as an array (a nested list is not one), a sequence as a tuple or
    list of as many items, a dict as a dict with the same keys.
    """
    if isinstance(expected, np.ndarray) and expected.ndim and isinstance(got, (tuple, list)):
        return (f"expected an array of shape {expected.shape}, got a {type(got).__name__}: {show(got)}; "
                "return a NumPy array (np.array(...) turns a list into one)")
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"expected a {type(expected).__name__} of {len(expected)} items, got {_a(got)}"
        if len(got) != len(expected):
            return f"expected a sequence of {len(expected)} items, got {len(got)}: {show(got)}"
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"expected a dict with keys {sorted(expected)}, got {_a(got)}"
        if got.keys() != expected.keys():
            return f"expected a dict with keys {sorted(expected)}, got keys {sorted(got)}"
    return None


def _a(value):
    """"an array of shape ...: ...", "a float: ...", and so on."""
    if isinstance(value, np.ndarray):
        return show(value).replace("array", "an array", 1)
    name = type(value).__name__ if not isinstance(value, Opaque) else value.type_name
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}: {show(value)}"


def difference(got, expected, rtol=1e-6, atol=1e-9, dtype=None):
    """None when `got` matches `expected`, else one sentence saying how not.

    Both are plain data; `dtype` ("float" or "int") also requires that kind of number.
    """
    if expected is None:
        return None if got is None else f"expected None, got {show(got)}"
    why = wrong_type(got, expected)
    if why:
        return why
    if isinstance(expected, (tuple, list)):
        for i, (g, e) in enumerate(zip(got, expected)):
            why = difference(g, e, rtol, atol, dtype)
            if why:
                return f"item {i}: {why}"
        return None
    if isinstance(expected, dict):
        for key in expected:
            why = difference(got[key], expected[key], rtol, atol, dtype)
            if why:
                return f"entry {key!r}: {why}"
        return None
    if isinstance(got, (Opaque, str, dict)) or not numeric(got):
        return f"expected numbers, got {show(got)}"
    g, e = np.array(got), np.array(expected)
    if g.shape != e.shape:
        return f"expected shape {e.shape}, got shape {g.shape}"
    if dtype and kind(g) != dtype:
        return f"expected {dtype} values, got dtype {g.dtype}"
    g, e = g.astype(float), e.astype(float)
    with np.errstate(all="ignore"):
        close = ((np.abs(g - e) <= atol + rtol * np.abs(e)) & np.isfinite(e)) | (g == e)
        bad = ~(close | (np.isnan(g) & np.isnan(e)))
        if not bad.any():
            return None
        gap = np.where(bad, np.abs(np.nan_to_num(g - e, nan=inf)), -1.0)
    worst = np.unravel_index(np.argmax(gap), g.shape)
    if not g.ndim:
        return f"expected {e[()]:.6g}, got {g[()]:.6g}"
    where = tuple(int(i) for i in worst)
    return (f"worst element at index {where}: expected {e[worst]:.6g}, got {g[worst]:.6g} "
            f"({int(bad.sum())} of {bad.size} elements differ)")


# ---------------------------------------------------------------- the wire: kernel -> judge

def to_wire(value):
    """Plain data as JSON-ready values."""
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, np.generic):
        return to_wire(np.array(value))
    if isinstance(value, np.ndarray):
        array = np.array(value, order="C")
        return {"array": array.dtype.str, "shape": list(array.shape),
                "data": base64.b64encode(array.tobytes()).decode()}
    if type(value) in (tuple, list):
        return {type(value).__name__: [to_wire(v) for v in value]}
    if type(value) is dict:
        return {"dict": [[k, to_wire(v)] for k, v in value.items()]}
    if type(value) is complex:
        return {"complex": [value.real, value.imag]}
    return {"opaque": value.type_name if isinstance(value, Opaque) else type(value).__name__}


class Malformed(ValueError):
    """Data from the kernel that is not in the wire format."""


def from_wire(data, depth=0):
    """The plain value that `to_wire` wrote; Malformed for anything else."""
    if depth > 20:
        raise Malformed("nested too deeply")
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is not dict or len(data) not in (1, 3):
        raise Malformed(f"unexpected {type(data).__name__}")
    if "array" in data:
        dtype = np.dtype(data["array"])
        if dtype.kind not in NUMBER_KINDS or dtype.hasobject:
            raise Malformed(f"an array of dtype {dtype}")
        shape = tuple(int(n) for n in data["shape"])
        raw = base64.b64decode(data["data"], validate=True)
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise Malformed("an array whose bytes do not fit its shape")
        array = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        return array if array.ndim else array[()]
    (key, inner), = data.items()
    if key == "float" and inner in ("nan", "inf", "-inf"):
        return float(inner)
    if key in ("tuple", "list") and type(inner) is list:
        items = [from_wire(v, depth + 1) for v in inner]
        return tuple(items) if key == "tuple" else items
    if key == "dict" and type(inner) is list:
        if not all(type(p) is list and len(p) == 2 and type(p[0]) is str for p in inner):
            raise Malformed("a dict that is not a list of [name, value] pairs")
        return {k: from_wire(v, depth + 1) for k, v in inner}
    if key == "complex" and type(inner) is list and len(inner) == 2:
        return complex(float(inner[0]), float(inner[1]))
    if key == "opaque" and type(inner) is str:
        return Opaque(inner[:100])
    raise Malformed(f"unknown entry {key!r}")


# ---------------------------------------------------------------- the literal of a hidden test

def A(dtype, shape, flat):  # noqa: N802 - short name for the generated literal
    """An array from its generated literal."""
    return np.array(flat, dtype=dtype).reshape(shape)


def encode(value):
    """A Python literal that `A`, `nan` and `inf` turn back into `value`."""
    if isinstance(value, (np.ndarray, np.generic)):
        flat = ", ".join(encode(v) for v in np.ravel(value).tolist())
        return f"A({str(value.dtype)!r}, {tuple(np.shape(value))!r}, [{flat}])"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(encode(v) for v in value)
        return f"({inner},)" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    raise TypeError(f"cannot write {type(value).__name__} into a hidden test")
