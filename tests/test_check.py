"""The helper package on its own: checks, messages, the literal of hidden tests, gradients, plugins."""
import copy
import json
import math

import nbformat
import numpy as np
import pytest

from dltrack import authoring, catalog, judge
from dltrack.check import A, CheckFailed, Exercise, Expected, difference, encode, inf, nan, show
from dltrack.gradcheck import numerical_gradient, relative_error
from dltrack.nbplugins import HideHiddenTests, KeepDuplicatesGraded


def notebook_function(code, name):
    """A function defined as if in a notebook (module __main__)."""
    namespace = {"__name__": "__main__", "np": np}
    exec(code, namespace)
    return namespace[name]


def test_difference_accepts_equal_and_close_values():
    assert difference(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12])) is None
    assert difference((np.ones(2), 3.0), (np.ones(2), 3.0)) is None
    assert difference(np.array([nan, 1.0]), np.array([nan, 1.0])) is None


@pytest.mark.parametrize("got, expected, says", [
    (np.ones((2, 1)), np.ones(2), "expected shape (2,), got shape (2, 1)"),
    (np.array([1.0, 5.0, 3.0]), np.array([1.0, 2.0, 3.0]), "index (1,): expected 2, got 5 (1 of 3"),
    (3.0, 2.0, "expected 2, got 3"),
    ("abc", 1.0, "expected numbers"),
    ((1.0,), (np.ones(2), 2.0), "a sequence of 2 items"),
    (np.array([nan]), np.array([1.0]), "expected 1, got nan"),
])
def test_difference_says_what_differs(got, expected, says):
    assert says in difference(got, expected)


def test_difference_checks_the_kind_of_number_when_asked():
    assert "expected float values" in difference(np.array([1, 2]), np.array([1.0, 2.0]), dtype="float")
    assert difference(np.array([1.0]), np.array([1]), dtype="float") is None


def test_show_is_short_and_names_shape_and_dtype():
    text = show(np.arange(1000.0))
    assert "shape (1000,)" in text and "float64" in text and len(text) <= 300
    assert show(np.float64(2.5)) == "2.5"


@pytest.mark.parametrize("value", [
    np.array([[1.5, -2.0], [nan, inf]]), np.arange(6, dtype=np.int32).reshape(2, 3), np.zeros((0, 3)),
    (np.array([1, 0]), 2.5, 3), [np.float64(1.25), True, None], np.array(7),
])
def test_encode_writes_a_literal_that_gives_the_value_back(value):
    back = eval(encode(value), {"A": A, "nan": nan, "inf": inf})
    assert difference(back, value, rtol=0, atol=0) is None
    for b, v in zip(np.atleast_1d(back) if isinstance(value, np.ndarray) else back,
                    np.atleast_1d(value) if isinstance(value, np.ndarray) else value):
        assert np.asarray(b).dtype.kind == np.asarray(v).dtype.kind


def test_a_failure_renders_its_message_without_a_traceback():
    lines = CheckFailed("f gave a wrong answer\n  input: x=1")._render_traceback_()
    assert "f gave a wrong answer" in lines[1] and not any("Traceback" in line for line in lines)


def test_expect_passes_a_right_answer_and_names_input_expected_and_got():
    square = notebook_function("def square(x):\n    return x * x", "square")
    ex = Exercise("square", square)
    ex.expect(4, x=2)
    with pytest.raises(CheckFailed) as failed:
        ex.expect(10, x=3)
    text = str(failed.value)
    assert "input:    x=3" in text and "expected: 10" in text and "got:      9" in text


def test_a_stub_is_reported_as_not_written_yet():
    stub = notebook_function("def f(x):\n    raise NotImplementedError()", "f")
    with pytest.raises(CheckFailed, match="not written yet"):
        Exercise("f", stub).expect(1, x=1)


def test_an_error_names_the_students_line():
    broken = notebook_function("def f(x):\n    return x / 0", "f")
    with pytest.raises(CheckFailed, match="ZeroDivisionError"):
        Exercise("f", broken).expect(1, x=1)


def test_an_imported_answer_earns_nothing():
    with pytest.raises(CheckFailed, match="must be written in this notebook"):
        Exercise("numerical_gradient", numerical_gradient)
    with pytest.raises(CheckFailed, match="must be written in this notebook"):
        Exercise("mean", np.mean)


def test_holds_states_the_broken_property():
    f = notebook_function("def f(x):\n    return -x", "f")
    with pytest.raises(CheckFailed, match="breaks a property: output is positive"):
        Exercise("f", f).holds(lambda out: out > 0, "output is positive", x=2)


def test_hidden_run_compares_with_the_written_reference():
    double = notebook_function("def double(x):\n    return 2 * x", "double")
    cases = [dict(x=np.arange(3.0)), dict(x=1.5)]
    reference = repr(Exercise("double", double).run(cases))
    expected = eval(reference, {"A": A, "Expected": Expected, "nan": nan, "inf": inf})
    Exercise("double", double).run(cases).check(expected)
    triple = notebook_function("def double(x):\n    return 3 * x", "double")
    with pytest.raises(CheckFailed, match=r"hidden case 1 of 2"):
        Exercise("double", triple).run(cases).check(expected)


def test_the_checks_do_not_let_the_student_change_the_inputs():
    sneaky = notebook_function("def f(x):\n    x[0] = 99.0\n    return x.sum()", "f")
    x = np.zeros(2)
    with pytest.raises(CheckFailed):
        Exercise("f", sneaky).expect(0.0, x=x)
    assert x[0] == 0.0


def test_only_the_inputs_the_contract_names_may_change():
    trains = notebook_function("def f(params, X):\n    params['W'] += 1.0\n    return 0.0", "f")
    Exercise("f", trains, may_change_inputs=("params",)).expect(0.0, params={"W": np.zeros(2)}, X=np.ones(2))
    shuffles = notebook_function("def f(params, X):\n    X[0] = 5.0\n    return 0.0", "f")
    with pytest.raises(CheckFailed) as failed:
        Exercise("f", shuffles, may_change_inputs=("params",)).expect(0.0, params={"W": np.zeros(2)}, X=np.ones(2))
    assert "changed its input X in place" in str(failed.value)


@pytest.mark.parametrize("got, expected, says", [
    ([[1.0, 2.0]], np.array([[1.0, 2.0]]), "expected an array of shape (1, 2), got a list: [[1.0, 2.0]]"),
    ((1.0, 2.0), np.array([1.0, 2.0]), "expected an array of shape (2,), got a tuple"),
    (np.ones((2, 1)), [np.ones(1), np.ones(1)], "expected a list of 2 items, got an array of shape (2, 1)"),
    (np.ones(2), (np.ones(1), 2.0), "expected a tuple of 2 items, got an array"),
    ([np.ones(2), 1.0], (np.ones(2), 1.0, 3), "expected a sequence of 3 items, got 2"),
    ({"W": [0.5]}, {"W": np.array([0.5])}, "entry 'W': expected an array of shape (1,), got a list"),
    ({"b": np.ones(1)}, {"W": np.ones(1)}, "expected a dict with keys ['W'], got keys ['b']"),
    (np.ones(1), {"W": np.ones(1)}, "expected a dict with keys ['W'], got an array"),
])
def test_difference_checks_the_documented_kind_of_value(got, expected, says):
    assert says in difference(got, expected)


@pytest.mark.parametrize("got, expected", [
    (np.float64(0.5), A("float64", (), [0.5])),   # a hidden case's number is a 0-d array
    (0.5, np.float64(0.5)),
    ([np.ones(2), 1.0], (np.ones(2), 1.0)),       # a list where a tuple was documented unpacks the same
    ({"W": np.ones(2)}, {"W": np.ones(2)}),
])
def test_difference_accepts_the_same_kind_in_another_form(got, expected):
    assert difference(got, expected) is None


def test_a_list_of_numpy_numbers_reads_as_numbers():
    assert show([4.0, np.float64(3.96)]) == "[4.0, 3.96]"


def test_a_nested_list_for_an_array_fails_with_a_clear_message():
    as_list = notebook_function("def f(x):\n    return (2 * x).tolist()", "f")
    with pytest.raises(CheckFailed) as failed:
        Exercise("f", as_list).expect(np.array([[2.0, 4.0]]), x=np.array([[1.0, 2.0]]))
    assert "expected an array of shape (1, 2), got a list: [[2.0, 4.0]]" in str(failed.value)


def test_a_catalogued_mistake_is_named():
    mistake = next(m for m in catalog.load("01_linear_models") if m["id"] == "decision_bias_subtracted")
    wrong = notebook_function(mistake["code"], "decision")
    with pytest.raises(CheckFailed) as failed:
        Exercise("decision", wrong).expect(1.0, w=np.array([0.0, 1.0]), b=-1.0, X=np.array([0.0, 2.0]))
    assert mistake["why"] in str(failed.value) and mistake["reread"] in str(failed.value)


def test_of_the_mistakes_that_fit_a_failure_the_one_that_fits_the_earlier_answers_comes_first():
    wrong = notebook_function(
        "class ReLU:\n    @staticmethod\n    def derivative(z):\n        return np.where(np.asarray(z) >= 0, 1.0, 0.0)",
        "ReLU")
    ex = Exercise("ReLU.derivative", wrong, call=lambda R, z: R.derivative(z))
    ex.expect(1.0, z=2.5)
    ex.expect(0.0, z=-2.5)
    with pytest.raises(CheckFailed) as failed:
        ex.expect(0.0, z=0.0)  # "1.0 everywhere" fits this answer too, but not the one at -2.5
    assert failed.value.mistakes[0] == "relu_derivative_one_at_zero"


TANH_CELL = '''
from dltrack.check import Exercise
Exercise("Tanh.fn", Tanh, call=lambda T, z: T.fn(z)).expect(0.7615941559557649, z=1.0)
'''


def test_a_failure_in_a_cell_that_uses_a_wrong_helper_points_at_the_helper_not_at_a_mistake():
    record = kernel_record("class Tanh:\n    @staticmethod\n    def fn(z):\n        return 2 * z", TANH_CELL)
    j = judge.Judge("02_activation_functions")
    j.given("import numpy as np")
    j.wrong.add("Sigmoid")  # its own check failed in an earlier cell
    message = j.verdict(TANH_CELL, record)
    assert "uses your Sigmoid, which failed its own check" in message and "known mistake" not in message


DECISION_CELL = '''
from dltrack.check import Exercise
Exercise("decision", decision).expect(1.0, w=np.array([0.0, 1.0]), b=-1.0, X=np.array([0.0, 2.0]))
'''


def test_a_judge_without_hints_gives_the_same_failure_and_names_no_mistake():
    mistake = next(m for m in catalog.load("01_linear_models") if m["id"] == "decision_bias_subtracted")
    verdicts = {}
    for hints in (True, False):
        j = judge.Judge("01_linear_models")
        j.given("import numpy as np")
        j.hints = hints
        verdicts[hints] = j.verdict(DECISION_CELL, kernel_record(mistake["code"], DECISION_CELL)), j.diagnosis
    (named, found), (plain, unnamed) = verdicts[True], verdicts[False]
    assert mistake["why"] in named and found["mistakes"] == ["decision_bias_subtracted"]
    assert plain == named.split("\nThis looks like a known mistake")[0] and unnamed["mistakes"] == []


def test_an_uncatalogued_wrong_answer_is_not_given_a_name():
    wrong = notebook_function("def decision(w, b, X):\n    return 42.0", "decision")
    with pytest.raises(CheckFailed) as failed:
        Exercise("decision", wrong).expect(1.0, w=np.array([0.0, 1.0]), b=-1.0, X=np.array([0.0, 2.0]))
    assert "known mistake" not in str(failed.value)


def test_numerical_gradient_matches_the_calculus():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    grad = numerical_gradient(lambda v: np.sum(v ** 3), x)
    assert relative_error(grad, 3 * x ** 2) < 1e-8
    assert relative_error(numerical_gradient(math.sin, 0.3), math.cos(0.3)) < 1e-8


def test_feedback_hides_hidden_lines_from_input_and_tracebacks():
    source = 'check()\n### BEGIN HIDDEN TESTS\nsecret_answer = 42\n### END HIDDEN TESTS'
    cell = authoring.tests("t", 1, source)
    cell.outputs = [nbformat.v4.new_output("error", ename="E", evalue="v", traceback=[
        "Cell In[3], line 3\n      1 check()\n----> 3 \x1b[0msecret_answer = 42\n", "E: v"])]
    cell, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    text = cell.source + "".join(cell.outputs[0]["traceback"])
    assert "secret_answer" not in text and "check()" in text


def test_a_duplicated_graded_cell_becomes_a_plain_cell():
    nb = nbformat.v4.new_notebook(cells=[authoring.tests("t", 1, "a"), authoring.tests("t", 1, "a")])
    nb, _ = KeepDuplicatesGraded().preprocess(nb, {})
    assert "nbgrader" not in nb.cells[0].metadata and nb.cells[1].metadata["nbgrader"]["grade_id"] == "t"


# ---------------------------------------------------------------- the kernel computes, the judge judges

TEST_CELL = '''
from dltrack.check import Exercise
ex = Exercise("double", double)
ex.expect(np.array([2.0, 4.0]), x=np.array([1.0, 2.0]))
ex.holds(lambda out: out >= 0, "never negative", x=3.0)
### BEGIN HIDDEN TESTS
cases = [dict(x=np.arange(3.0)), dict(x=-1.5)]
from dltrack.check import A, Expected, nan, inf
ex.run(cases).check(Expected([A('float64', (3,), [0.0, 2.0, 4.0]), -3.0]))
### END HIDDEN TESTS
'''


def kernel_record(code, source=TEST_CELL):
    """What a grading kernel hands back for `source` when the student wrote `code`."""
    from dltrack import check

    namespace = {"__name__": "__main__", "np": np}
    exec(code, namespace)
    check.begin_recording()
    try:
        exec(judge.kernel_source(source), namespace)
    finally:
        record = check.take_record()
    return record


def verdict(record, source=TEST_CELL):
    j = judge.Judge("none")
    j.given("import numpy as np")
    return j.verdict(source, record)


def test_the_kernel_never_sees_the_hidden_values():
    kernel = judge.kernel_source(TEST_CELL)
    assert "Expected()" in kernel and "-3.0" not in kernel and "A('float64'" not in kernel
    assert kernel.replace("Expected()", "") == TEST_CELL.replace(
        "Expected([A('float64', (3,), [0.0, 2.0, 4.0]), -3.0])", "")


def test_the_judge_passes_a_right_record_and_names_what_a_wrong_one_got():
    assert verdict(kernel_record("def double(x):\n    return 2 * x")) is None
    message = verdict(kernel_record("def double(x):\n    return 3 * x"))
    assert "double gave a wrong answer" in message and "expected:" in message and "got:" in message
    hidden = verdict(kernel_record("def double(x):\n    return 2 * x if np.ndim(x) else 7.0"))
    assert "hidden case 2 of 2" in hidden
    assert "not written yet" in verdict(kernel_record("def double(x):\n    raise NotImplementedError()"))


def test_a_record_that_is_not_exactly_what_the_checks_asked_for_fails():
    good = json.loads(kernel_record("def double(x):\n    return 2 * x"))
    assert "no usable answers" in verdict(None)
    assert "no usable answers" in verdict("not json")
    assert "stopped before" in verdict(json.dumps(good[:2]))
    assert "more answers" in verdict(json.dumps(good + [good[1]]))
    assert "wrong kind" in verdict(json.dumps([good[0], good[-1], *good[1:-1]]))
    forged = copy.deepcopy(good)
    forged[1]["output"] = {"array": "|O", "shape": [2], "data": ""}
    assert "malformed" in verdict(json.dumps(forged))


def test_a_property_is_judged_on_plain_data_only():
    rigged = '''
class Yes(float):
    def __ge__(self, other):
        return True
def double(x):
    return Yes(-1.0) if np.ndim(x) == 0 and x == 3.0 else 2 * x
'''
    assert "never negative" in verdict(kernel_record(rigged))


def test_an_input_changed_in_place_is_named():
    message = verdict(kernel_record("def double(x):\n    x *= 2\n    return x"))
    assert "changed its input x in place" in message


@pytest.mark.parametrize("value", [
    np.array([[1.5, -2.0], [nan, inf]]), np.arange(6, dtype=np.int32).reshape(2, 3), np.float64(2.5),
    (np.zeros((0, 3)), 2.5, 3, True, None, "text"), [1, (2.0, nan)], {"W1": np.eye(2), "b": -inf}, 1 + 2j,
])
def test_plain_data_survives_the_wire(value):
    from dltrack.compare import from_wire, plain, same, to_wire

    value = plain(value)
    assert same(from_wire(json.loads(json.dumps(to_wire(value)))), value)
