"""The mutation engine's use here, and what a variant graded in one process may leave out."""
from dltrack import mutants
from dltrack.variants import _skippable, _uses

CELL = '''def step(x, g, lr=0.1):
    """One step: x - lr g. Docstrings and signatures are never mutated."""
    ### BEGIN SOLUTION
    x = x - lr * g
    return x @ np.eye(len(x)).T
    ### END SOLUTION
'''


def test_mutants_change_only_the_solution_region_once_each():
    found = mutants.of_cell("step", CELL)
    assert found and len({m.code for m in found}) == len(found)
    for m in found:
        assert m.code != CELL and m.cell == "step"
        assert m.code.splitlines()[:3] == CELL.splitlines()[:3], m.describe()


def test_mutants_include_the_numpy_operators():
    changes = {m.after for m in mutants.of_cell("step", CELL)}
    assert "x -= lr * g" in changes                          # made in place
    assert "return x * np.eye(len(x)).T" in changes          # @ made *
    assert "return x @ np.eye(len(x))" in changes            # transpose dropped
    assert "x = x + lr * g" in changes                       # mutmut's own operator swap


def test_a_mutant_keeps_its_id_when_another_line_changes():
    before = {m.describe(): m.id for m in mutants.of_cell("step", CELL)}
    after = {m.describe(): m.id for m in mutants.of_cell("step", CELL.replace("lr=0.1", "lr=0.5"))}
    assert before == after


def cells(*specs):
    return [(gid, kind, source, 1.0 if kind == "test" else 0.0) for gid, kind, source in specs]


NOTEBOOK = cells(
    ("setup", "given", "import numpy as np"),
    ("f", "student", "def f(x):\n    return x + 1"),
    ("g", "student", "def g(x):\n    return f(x) * 2"),
    ("h", "student", "def h(x):\n    return x - 1"),
    (None, "student", "table = [f(v) for v in range(3)]\nprint(table)"),
    (None, "student", "shown = h(2)\nprint(shown)"),
    ("f_test", "test", "check(f)"),
    ("g_test", "test", "check(g)"),
    ("h_test", "test", "check(h)"),
    (None, "student", "noise = np.random.rand(3)"),
    ("h_uses_table", "test", "check(h, table)"),
)


def test_a_variant_leaves_out_only_the_cells_its_change_cannot_reach():
    skip = _skippable(NOTEBOOK, 1, [1], NOTEBOOK)  # f changed
    names = {NOTEBOOK[i][0] or NOTEBOOK[i][2].split("\n")[0] for i in skip}
    # g calls f, table uses f, the global random draw runs whatever it is; h's own test and the
    # demonstration of h are out of reach; h's cell runs, since a test that runs (h_uses_table,
    # reached through table) reads h
    assert names == {"shown = h(2)", "h_test"}


def test_a_cell_that_binds_what_a_reached_cell_reads_still_runs():
    skip = _skippable(NOTEBOOK, 3, [3], NOTEBOOK)  # h changed: h_uses_table reads table, so its cell runs
    assert 4 not in skip and 8 not in skip and 10 not in skip
    assert {6, 7} <= skip  # f's and g's tests keep the reference's results


def test_a_cell_that_no_longer_binds_a_name_reaches_its_readers():
    stub = list(NOTEBOOK)
    stub[3] = ("h", "student", "raise NotImplementedError()", 0.0)  # binds nothing now
    skip = _skippable(stub, 3, [3], NOTEBOOK)
    assert 8 not in skip and 10 not in skip  # h's tests run, and fail, as they do in a kernel


def test_a_function_argument_does_not_hide_the_cell_reading_the_same_name():
    reads, _ = _uses("def trained(f, settings):\n    return f(**settings)\n"
                     "Exercise('net', train, call=trained).holds(ok, 'fine', settings=settings)")
    assert "settings" in reads and "f" not in reads


SWEEP = cells(
    ("setup", "given", "import numpy as np"),
    ("train", "student", "def train(n):\n    return n * 2"),
    (None, "student", "for n_hidden in (4, 8):\n    print(train(n_hidden))"),
    ("settings", "student", "# your settings\nn_hidden, lr = 64, 0.1\nnet = train(n_hidden)"),
    ("net_test", "test", "check(train, n_hidden, lr)"),
)


def test_a_demonstration_whose_names_a_later_cell_binds_for_sure_is_left_out():
    assert _skippable(SWEEP, 1, [1], SWEEP) == {2}  # the settings bind n_hidden before the test reads it
    unsure = [*SWEEP[:3], ("settings", "student", "n_hidden, lr = int('64'), 0.1", 0.0), SWEEP[4]]
    assert _skippable(unsure, 1, [1], SWEEP) == set()  # int() could fail: n_hidden may be the sweep's
    unpacked = [*SWEEP[:3], ("settings", "student", "n_hidden, lr = 64, 0.1, 1e-4", 0.0), SWEEP[4]]
    assert _skippable(unpacked, 1, [1], SWEEP) == set()  # fails to unpack: binds nothing


def test_the_reference_leaves_out_the_demonstrations_no_version_of_a_graded_cell_reads():
    from dltrack.variants import _idle

    demos = [*SWEEP, (None, "student", "print(net)", 0.0), (None, "student", "table = [train(2)]", 0.0),
             ("table_test", "test", "check(table)", 1.0)]
    assert _idle(demos, {}) == {2, 5}  # the sweep and print(net); table is read by a test
    # a variant's settings read what the sweep leaves behind: the sweep runs for it to fork from
    assert _idle(demos, {"reads_the_sweep": {"settings": "n_hidden, lr = n_hidden, 0.1\nnet = train(n_hidden)"}}) == {5}
    # n_hidden is bound for sure in the reference's settings, not in a variant's: the sweep runs
    assert _idle(demos, {"unsure": {"settings": "n_hidden, lr = int('64'), 0.1\nnet = train(n_hidden)"}}) == {5}


def test_only_a_global_random_state_counts_as_one():
    from dltrack.variants import _GLOBAL_RANDOM

    for drawn in ("x = np.random.rand(3)", "import random\nrandom.shuffle(xs)", "numpy.random.seed(0)"):
        assert _GLOBAL_RANDOM.search(drawn), drawn
    for seeded in ("rng = np.random.default_rng(0)", "rng.random(3)", "numpy.random.default_rng(seed)"):
        assert not _GLOBAL_RANDOM.search(seeded), seeded
