"""Cell factories for the course's tests, and the normal form of every committed notebook.

nbgrader's own tests build notebooks with small factories; so do the course's tests.
"""
import nbformat
from nbformat.v4 import new_code_cell

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _meta(grade_id, *, grade, solution, locked, points=None, task=False):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked,
            "schema_version": 3, "solution": solution, "task": task}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def code(text):
    """An ordinary code cell the student may run and change."""
    return new_code_cell(text.strip())


def tests(grade_id, points, text):
    """An autograded test cell worth `points`."""
    return new_code_cell(text.strip(), metadata=_meta(grade_id, grade=True, solution=False, locked=True, points=points))


def normalise(nb, keep_outputs=False):
    """Drop what changes from run to run: timings, versions, counters, ids."""
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    nb.nbformat, nb.nbformat_minor = 4, 5
    seen = set()
    for index, cell in enumerate(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id:
            cell.id = grade_id
        elif not cell.get("id") or cell.id in seen:
            cell.id = f"cell-{index:03d}"
        seen.add(cell.id)
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        if cell.cell_type == "code":
            # JupyterLab's Run All goes on past a cell with this tag: a stub or a failed
            # check must not hide the rest of the notebook.
            tags = cell.metadata.setdefault("tags", [])
            if "raises-exception" not in tags:
                tags.append("raises-exception")
            if not keep_outputs:
                cell.outputs, cell.execution_count = [], None
            for number, output in enumerate(cell.get("outputs", [])):
                # A widget's model id is random at each run, and no widget state is saved with
                # the notebook (its metadata is reset above): a fixed id keeps a rebuild diff-free.
                view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
                if view and "model_id" in view:
                    view["model_id"] = f"{cell.id}-{number}"
    return nb


def write(nb, path):
    """Write a notebook the way every committed notebook is written."""
    nbformat.validate(nb)
    with open(path, "w", encoding="utf-8") as f:
        nbformat.write(nb, f)
