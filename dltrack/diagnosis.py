"""What the judge found in every test cell of every student, kept beside the gradebook.

At autograde, `dltrack.nbplugins.JudgedExecute` writes one JSON file a student and
assignment, `diagnoses/<assignment>/<student>.json` in the course folder; grading the
student again replaces it. For each test cell it holds the points, the kind of failure
and the ids of the catalogued mistakes the judge recognised:

    failure: null (passed) | "visible" | "hidden" | "changed input" | "no answers"
             | "timeout" | "time budget" | "kernel died" | "not run"
"""
import json
import os
import tempfile
from pathlib import Path

from nbgrader import utils

FAILURES = ("visible", "hidden", "changed input", "no answers", "timeout", "time budget",
            "kernel died", "not run")


def stopped_kind(evalue):
    """The kind of failure of a cell the grader did not let run, from its reason."""
    if "time budget" in evalue:
        return "time budget"
    if "died" in evalue:
        return "kernel died"
    if "stopped answering" in evalue:
        return "timeout"
    return "not run"


def write(folder, info, nb, found):
    """Write the diagnosis of one graded notebook; `found` maps grade ids to what the judge said."""
    cells = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        points, most = utils.determine_grade(cell)
        entry = found.get(meta["grade_id"], {"failure": None, "mistakes": [], "message": None})
        if entry["failure"] is None and points < most:
            entry = dict(entry, failure="visible", message="the cell wrote to stderr or failed in the kernel")
        cells[meta["grade_id"]] = dict(entry, points=points, max_points=most)
    record = {"student": info["student"], "assignment": info["assignment"],
              "notebook": info["notebook"], "cells": cells}
    path = Path(folder) / info["assignment"] / f"{info['student']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
        json.dump(record, f, indent=1)
    os.replace(f.name, path)  # a regrade replaces it whole


def read(folder, assignment):
    """Every student's diagnosis of `assignment`, sorted by student id."""
    paths = sorted((Path(folder) / assignment).glob("*.json"))
    return [json.loads(p.read_text()) for p in paths]
