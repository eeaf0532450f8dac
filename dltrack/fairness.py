"""The fairness report: how far each exercise's tests can be trusted, per assignment.

For every exercise (solution cell) it counts the mutants a mutation-testing engine
made of the reference (dltrack.mutants) and how many lose points, the catalogued
mistakes that lose points and are named, and the other correct answers that keep
full marks; it lists every mutant that keeps full marks, as equivalent (with the
reason, from the catalog) or as a hole in the tests. Every variant is graded by
the autograder's own judge (dltrack.variants).

    dltrack fairness [SECTION ...]     writes docs/fairness/SECTION.md

The section's catalog (dltrack/catalogs/SECTION.yml) holds, under `mutants`:
  equivalent -- [{id, why}]: mutants that compute what the reference computes
  plausible  -- [id, ...]: mutants a student could well write; their message should
                name a catalogued mistake
"""
import tempfile
from pathlib import Path

import nbformat

from . import catalog, course, mutants, variants

TARGET = 0.95   # of the mutants that are not equivalent, the share that must lose points
NAMED = 0.80    # of the plausible mutants, the share whose message must name a mistake
FOLDER = Path("docs") / "fairness"


def solution_cells(nb):
    """(grade_id, source) of the notebook's solution code cells, in order."""
    return [(c.metadata["nbgrader"]["grade_id"], c.source) for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def section_variants(root, assignment, release):
    """id -> (kind, entry, {grade_id: code}) for every variant of a section but the reference.

    `release` is the generated release notebook (the stub). Kinds: stub, mistake, correct,
    wrong, mutant; the entry is the catalog's dict, or the dltrack.mutants.Mutant.
    """
    out = {"stub": ("stub", None, dict(solution_cells(release)))}
    for m in catalog.load(assignment):
        out[f"mistake-{m['id']}"] = ("mistake", m, {m["replaces"]: m["code"]})
    correct, wrong = catalog.others(assignment)
    for kind, entries in (("correct", correct), ("wrong", wrong)):
        for a in entries:
            out[f"{kind}-{a['id']}"] = (kind, a, {a["replaces"]: a["code"]})
    source = nbformat.read(course.source_notebook(root, assignment), 4)
    for grade_id, code in solution_cells(source):
        for mutant in mutants.of_cell(grade_id, code):
            out[f"mutant-{mutant.id}"] = ("mutant", mutant, {grade_id: mutant.code})
    return out


def grade_section(course_dir, assignment, found=None, extra=None):
    """(variants, results): every variant of a generated scratch course, graded by the judge.

    `found` is section_variants' answer, when the caller has it; `extra` ({id: changes}) are
    graded too, in the same process, to the end and with hints (the tests' sample).
    """
    if found is None:
        release = nbformat.read(next((Path(course_dir) / "release" / assignment).glob("*.ipynb")), 4)
        found = section_variants(course_dir, assignment, release)
    every = {vid: changes for vid, (_, _, changes) in found.items()} | (extra or {})
    results = variants.grade(course_dir, assignment, every,
                             stop={vid: _stop(kind, entry) for vid, (kind, entry, _) in found.items()},
                             hintless=_hintless(assignment, found))
    return found, results


def _hintless(assignment, found):
    """The variants whose messages the report does not read: the wrong answers (they must lose
    points, not be named) and the mutants not marked plausible."""
    plausible = catalog.mutant_marks(assignment)["plausible"]
    return {vid for vid, (kind, entry, _) in found.items()
            if kind == "wrong" or (kind == "mutant" and entry.id not in plausible)}


def _stop(kind, entry):
    """How far a variant must run for the report: a mutant to its first loss, a mistake or a wrong
    answer through the cells that must catch it, another correct answer and the stub to the end."""
    if kind == "mutant":
        return "first"
    if kind in ("mistake", "wrong"):
        return list(entry["caught_by"])
    return None


def lost(result, cells=None):
    """The test cells where a variant lost points (of `cells`, when given)."""
    return {c for c, r in result.items() if r["score"] < r["max"] and (cells is None or c in cells)}


def named(result, why, cells):
    return any(why in (result[c]["message"] or "") for c in cells if c in result)


def recognised(result):
    """Whether any failure message of the variant names a catalogued mistake."""
    return any(r["mistakes"] for r in result.values())


def summary(assignment, found, results):
    """Per exercise: the figures of the report, and the mutants that keep full marks."""
    marks = catalog.mutant_marks(assignment)
    rows = {}
    # the mutants first: they come in the notebook's order, and so do the rows
    for vid, (kind, entry, changes) in sorted(found.items(), key=lambda item: item[1][0] != "mutant"):
        if kind == "stub":
            continue
        cell = next(iter(changes))
        row = rows.setdefault(cell, {k: 0 for k in (
            "mutants", "killed", "equivalent", "mistakes", "caught", "named", "correct", "kept",
            "wrong", "wrong_caught", "plausible", "plausible_named")} | {"equivalents": [], "holes": []})
        result = results[vid]
        if kind == "mutant":
            _count_mutant(row, entry, result, marks)
        elif kind == "mistake":
            row["mistakes"] += 1
            row["caught"] += bool(lost(result, entry["caught_by"]) == set(entry["caught_by"]))
            row["named"] += named(result, entry["why"], entry["caught_by"])
        elif kind == "correct":
            row["correct"] += 1
            row["kept"] += not lost(result)
        else:
            row["wrong"] += 1
            row["wrong_caught"] += lost(result, entry["caught_by"]) == set(entry["caught_by"])
    return rows


def _count_mutant(row, mutant, result, marks):
    row["mutants"] += 1
    if mutant.id in marks["equivalent"]:
        row["equivalent"] += 1
        row["equivalents"].append((mutant, marks["equivalent"][mutant.id], bool(lost(result))))
    elif lost(result):
        row["killed"] += 1
    else:
        row["holes"].append(mutant)
    if mutant.id in marks["plausible"]:
        row["plausible"] += 1
        row["plausible_named"] += recognised(result)


def rate(row):
    """The share of the mutants that are not equivalent that lose points (1.0 when there are none)."""
    rest = row["mutants"] - row["equivalent"]
    return row["killed"] / rest if rest else 1.0


HEADER = """\
# Fairness report: {assignment}

Made by `dltrack fairness {assignment}`; a test fails when it is out of date. Every variant
below was graded by the autograder's own judge, on the reference notebook with one
solution cell replaced.

- **Mutants**: versions of the reference with one small change inside a solution region,
  made by a mutation-testing engine (mutmut's operators, plus `@` made `*`, a transpose
  dropped, two arguments swapped, a term dropped, an assignment made in place).
  *Killed*: it loses points. *Equivalent*: it computes what the reference computes (the
  reasons are listed). *Kept*: it keeps full marks and is not known to be equivalent: a hole.
- **Mistakes**: the catalogued wrong answers; *caught* when they lose the points of every
  test cell that should catch them, *named* when the message says which mistake it is.
- **Other answers**: different correct answers must keep full marks; other wrong answers
  must lose points.
- **Plausible**: mutants a student could well write (marked by hand); *named* when the
  message of the first test cell it fails names a catalogued mistake. (A mutant is graded
  up to that cell only.)

| exercise | mutants | killed | equivalent | kept | killed of the rest | mistakes caught | named | correct answers kept | wrong answers caught | plausible named |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
"""


def render(assignment, rows):
    lines = [HEADER.format(assignment=assignment)]
    for cell, r in rows.items():
        lines.append(
            f"| `{cell}` | {r['mutants']} | {r['killed']} | {r['equivalent']} | {len(r['holes'])} | "
            f"{rate(r):.0%} | {r['caught']} of {r['mistakes']} | {r['named']} of {r['mistakes']} | "
            f"{r['kept']} of {r['correct']} | {r['wrong_caught']} of {r['wrong']} | "
            f"{r['plausible_named']} of {r['plausible']} |\n")
    total = {k: sum(r[k] for r in rows.values()) for k in ("mutants", "killed", "equivalent")}
    kept = sum(len(r["holes"]) for r in rows.values())
    lines.append(f"\nIn all: {total['mutants']} mutants, {total['killed']} killed, {total['equivalent']} "
                 f"equivalent, {kept} kept full marks.\n")
    holes = [(cell, m) for cell, r in rows.items() for m in r["holes"]]
    lines.append("\n## Mutants that keep full marks\n\n")
    lines += [f"- `{m.id}`, {_escape(m.describe())}\n" for _, m in holes] or ["None.\n"]
    lines.append("\n## Equivalent mutants\n\n")
    equivalents = [(m, why, killed) for r in rows.values() for m, why, killed in r["equivalents"]]
    lines += [f"- `{m.id}`, {_escape(m.describe())}: {why}"
              f"{' (but it loses points: not equivalent after all)' if killed else ''}\n"
              for m, why, killed in equivalents] or ["None.\n"]
    return "".join(lines)


def recorded_rates(text):
    """exercise -> the share of its mutants killed, as a committed report records it."""
    rates = {}
    for line in text.splitlines():
        cols = [c.strip() for c in line.strip("|").split("|")]
        if len(cols) == 11 and cols[0].startswith("`") and cols[5].endswith("%"):
            rates[cols[0].strip("`")] = int(cols[5][:-1]) / 100
    return rates


def _escape(text):
    return text.replace("|", "\\|")


def build(root, assignment):
    """The report's text for one section, graded in a scratch copy of the course at `root`."""
    with tempfile.TemporaryDirectory(prefix="dltrack-fairness-") as where:
        scratch = course.scratch_copy(root, where, [assignment])
        course.nbgrader(scratch, "generate_assignment", assignment, "--force")
        found, results = grade_section(scratch, assignment)
        return render(assignment, summary(assignment, found, results))


def write(root, ids):
    for a in ids:
        print(f"fairness report of {a}", flush=True)
        path = Path(root) / FOLDER / f"{a}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(build(root, a))
        print(f"  wrote {path.relative_to(root)}")
