"""A release notebook run top to bottom, as a student's Run All does with every exercise unwritten.

The stubs raise NotImplementedError and the checks fail, but no cell may fail with a NameError:
a cell that needs an unfinished exercise says which one to finish (dltrack.unfinished).
"""
import nbformat
import pytest

import harness
from dltrack.nbplugins import LocalWidgetsClient
from dltrack.unfinished import Unfinished, needs, unfinished


@pytest.mark.slow
def test_the_release_runs_top_to_bottom_without_a_name_error(assignment):
    path = next((harness.ROOT / "release" / assignment).glob("*.ipynb"))
    nb = nbformat.read(path, 4)
    LocalWidgetsClient(nb, timeout=600, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [(c.metadata.get("nbgrader", {}).get("grade_id"), o)
              for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not [(grade_id, o.evalue) for grade_id, o in errors if o.ename == "NameError"]
    if assignment == "07_digits_capstone":
        said = {grade_id: o.evalue for grade_id, o in errors}
        assert "finish the final network" in said["test_accuracy"], said["test_accuracy"]


def test_needs_names_the_exercise_to_finish():
    made = 3  # noqa: F841 - found by needs in this frame
    needs("Exercise 9", "made")
    with pytest.raises(Unfinished, match=r"needs `missing`.*finish Exercise 9"):
        needs("Exercise 9", "missing")
    net = unfinished("net", "the final network")  # noqa: F841
    with pytest.raises(Unfinished, match="finish the final network"):
        needs("the final network", "net")


def test_a_placeholder_says_what_to_finish_wherever_it_is_used():
    net = unfinished("net", "the final network")
    for use in (lambda: net["W1"], lambda: net.W, lambda: net(1), lambda: len(net), lambda: net @ 1):
        with pytest.raises(Unfinished, match="finish the final network"):
            use()
    assert "finish the final network" in repr(net)
