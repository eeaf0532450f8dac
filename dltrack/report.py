"""What the class got wrong: a misconception report per assignment, for the instructor.

    dltrack report ASSIGNMENT                writes reports/ASSIGNMENT.html and reports/ASSIGNMENT.csv
    dltrack report ASSIGNMENT --student ID   one student's page: reports/ASSIGNMENT-ID.html and .csv

It reads what the judge recorded at autograde (`dltrack.diagnosis`: diagnoses/ASSIGNMENT/*.json),
the mistake catalog (`dltrack.catalog`) and, for the cells graded by hand, nbgrader's gradebook.
The page is one file that needs nothing else: its figures are PNG images inlined as base64, and it
has no script and no external style, so it opens offline, from JupyterLab's file browser too.
The CSV has one row per student and catalogued mistake.
"""
import base64
import csv
import datetime
import html
import io
from collections import Counter, defaultdict
from pathlib import Path

import nbformat

from . import catalog, course, diagnosis

WRONG = ("visible", "hidden", "changed input", "no answers")  # an answer was judged, and failed
STOPPED = ("timeout", "time budget", "kernel died", "not run")  # the kernel did not give one
UNWRITTEN = "not written yet"  # how dltrack.check names a stub that raises NotImplementedError
# One colour per outcome of a test cell; colour-blind safe, the same in every figure.
COLOURS = {"full marks": "#1f77b4", "some points": "#9ecae1", "wrong": "#e6550d",
           "not written": "#bdbdbd", "stopped": "#525252"}
CSV_FIELDS = ["assignment", "student", "mistake", "found_in", "reread", "why"]


# ---------------------------------------------------------------- what was recorded

def outcome(cell):
    """One of COLOURS' keys for a test cell of a diagnosis."""
    if cell["failure"] is None:
        return "full marks" if cell["points"] >= cell["max_points"] else "some points"
    if cell["failure"] in STOPPED:
        return "stopped"
    if UNWRITTEN in (cell["message"] or "") and not cell["mistakes"]:
        return "not written"
    return "wrong" if cell["points"] == 0 else "some points"


def notebook_order(root, assignment, records):
    """(grade ids of the test cells in notebook order, grade id -> heading of its section).

    The order and headings come from the source notebook (the release one when there is none);
    cells it does not have follow in the order the diagnoses list them.
    """
    order, section = [], {}
    for folder in ("source", "release"):
        paths = sorted((Path(root) / folder / assignment).glob("*.ipynb"))
        if paths:
            heading = ""
            for cell in nbformat.read(paths[0], 4).cells:
                first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
                if cell.cell_type == "markdown" and first.startswith("## "):
                    heading = first[3:].strip()
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                if grade_id:
                    order.append(grade_id)
                    section[grade_id] = heading
            break
    for r in records:
        order += [g for g in r["cells"] if g not in order]
    return [g for g in order if any(g in r["cells"] for r in records)], section


def hand_graded(root, assignment, students):
    """grade id -> (max points, {student: score or None when not graded yet}) of the cells graded by hand."""
    db = Path(root) / "gradebook.db"
    if not db.exists():
        return {}
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        try:
            notebooks = gb.find_assignment(assignment).notebooks
        except MissingEntry:
            return {}
        for nb in notebooks:
            for student in students:
                try:
                    sub = gb.find_submission_notebook(nb.name, assignment, student)
                except MissingEntry:
                    continue
                for g in sub.grades:
                    if g.auto_score is None:
                        most, scores = out.setdefault(g.name, (g.max_score, {}))
                        scores[student] = g.manual_score
    return out


class Findings:
    """What the diagnoses of one assignment say, grouped the ways the report shows it."""

    def __init__(self, root, assignment, records):
        self.assignment, self.records = assignment, records
        self.students = [r["student"] for r in records]
        self.cells, self.section = notebook_order(root, assignment, records)
        self.catalog = {m["id"]: m for m in catalog.load(assignment)}
        self.by_hand = hand_graded(root, assignment, self.students)
        # mistake id -> {student: [test cells where the judge recognised it]}
        self.mistakes = defaultdict(dict)
        for r in records:
            for grade_id in self.cells:
                for m in r["cells"].get(grade_id, {}).get("mistakes", []):
                    self.mistakes[m].setdefault(r["student"], []).append(grade_id)

    def ranked(self):
        """Mistake ids, most students first; ties in the order the catalog lists them."""
        ids = list(self.catalog)
        return sorted(self.mistakes, key=lambda m: (-len(self.mistakes[m]), ids.index(m) if m in ids else len(ids), m))

    def outcomes(self, grade_id):
        return Counter(outcome(r["cells"][grade_id]) for r in self.records if grade_id in r["cells"])

    def uncatalogued(self):
        """grade id -> [(student, failure, message)] of wrong answers no catalogued mistake explains."""
        out = defaultdict(list)
        for r in self.records:
            for grade_id in self.cells:
                cell = r["cells"].get(grade_id)
                if cell and cell["failure"] in WRONG and not cell["mistakes"] and outcome(cell) != "not written":
                    out[grade_id].append((r["student"], cell["failure"], cell["message"] or ""))
        return out

    def stopped(self):
        """[(student, what happened, in which test cell, test cells that lost their points)]."""
        out = []
        for r in self.records:
            hit = [g for g in self.cells if r["cells"].get(g, {}).get("failure") in STOPPED]
            if hit:
                first = next((g for g in hit if r["cells"][g]["failure"] != "not run"), hit[0])
                out.append((r["student"], r["cells"][first]["failure"], first, hit))
        return out

    def score(self, record):
        return (sum(c["points"] for c in record["cells"].values()),
                sum(c["max_points"] for c in record["cells"].values()))

    def rows(self):
        """The CSV: one row per student and catalogued mistake."""
        for m in self.ranked():
            entry = self.catalog.get(m, {})
            for student in sorted(self.mistakes[m]):
                yield {"assignment": self.assignment, "student": student, "mistake": m,
                       "found_in": " ".join(self.mistakes[m][student]),
                       "reread": entry.get("reread", ""), "why": entry.get("why", "")}


# ---------------------------------------------------------------- figures

def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _figure(rows):
    from matplotlib.figure import Figure  # no pyplot: no backend, no global state (Agg on save)

    fig = Figure(figsize=(7.5, 0.9 + 0.32 * max(rows, 1)))
    return fig, fig.add_subplot()


def outcome_figure(f):
    """One bar per test cell, its students split by outcome."""
    fig, ax = _figure(len(f.cells))
    labels = list(reversed(f.cells))  # the first exercise on top
    left = [0] * len(labels)
    for kind, colour in COLOURS.items():
        counts = [f.outcomes(g)[kind] for g in labels]
        if any(counts):
            ax.barh(labels, counts, left=left, color=colour, label=kind, height=0.7)
            left = [a + b for a, b in zip(left, counts)]
    for y, g in enumerate(labels):
        full = f.outcomes(g)["full marks"] / max(sum(f.outcomes(g).values()), 1)
        ax.text(max(left) * 1.01, y, f"{full:.0%} full marks", va="center", fontsize=9)
    ax.set_xlim(0, max(left) * 1.2 or 1)
    ax.set_xlabel("students")
    ax.legend(ncols=5, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False, fontsize=9)
    _plain(ax)
    return _png(fig)


def total_figure(f):
    """How many students got each total of autograded points."""
    totals = Counter(f.score(r)[0] for r in f.records)
    most = max(f.score(r)[1] for r in f.records)
    fig, ax = _figure(5)
    ax.bar(list(totals), list(totals.values()), width=0.8 if most <= 30 else most / 40, color=COLOURS["full marks"])
    ax.set_xlim(-0.6, most + 0.6)
    ax.set_xlabel(f"autograded points (of {most:g})")
    ax.set_ylabel("students")
    ax.yaxis.get_major_locator().set_params(integer=True)
    _plain(ax)
    return _png(fig)


def mistake_figure(f):
    """One bar per catalogued mistake, the number of students who made it."""
    ranked = f.ranked()
    fig, ax = _figure(len(ranked))
    ax.barh(list(reversed(ranked)), [len(f.mistakes[m]) for m in reversed(ranked)],
            color=COLOURS["wrong"], height=0.7)
    ax.set_xlabel(f"students (of {len(f.students)})")
    ax.xaxis.get_major_locator().set_params(integer=True)
    _plain(ax)
    return _png(fig)


def _plain(ax):
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=9)


# ---------------------------------------------------------------- the page

STYLE = """body{font-family:system-ui,sans-serif;max-width:62rem;margin:1.5rem auto;padding:0 1rem;
line-height:1.45;color:#222}table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{text-align:left;
vertical-align:top;padding:.25rem .6rem;border-bottom:1px solid #ddd}th{border-bottom:2px solid #999}
td.n{text-align:right;white-space:nowrap}code{font-size:.95em}.meta{color:#555}img{max-width:100%}"""

e = html.escape


def _table(head, rows, numeric=()):
    cells = lambda row, tag: "".join(  # noqa: E731
        f"<{tag}{' class=n' if i in numeric and tag == 'td' else ''}>{v}</{tag}>" for i, v in enumerate(row))
    return ("<table><thead><tr>" + cells(head, "th") + "</tr></thead><tbody>"
            + "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows) + "</tbody></table>")


def _img(png, alt):
    return f'<img alt="{e(alt)}" src="data:image/png;base64,{png}">'


def _share(n, of):
    return f"{n} ({n / of:.0%})" if of else "0"


def _page(title, meta, body):
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{e(title)}</h1><p class=meta>{meta}</p>{body}</body></html>\n")


def _stamp(folder):
    newest = max((p.stat().st_mtime for p in folder.glob("*.json")), default=None)
    when = datetime.datetime.fromtimestamp(newest).strftime("%Y-%m-%d %H:%M") if newest else "?"
    return f"autograded {when}"


def class_page(f, stamp):
    n = len(f.students)
    perfect = sum(1 for r in f.records if f.score(r)[0] >= f.score(r)[1])
    ranked = f.ranked()
    top = (f"The most common mistake is <b>{e(ranked[0])}</b> ({_share(len(f.mistakes[ranked[0]]), n)} "
           "of the students)." if ranked else "No catalogued mistake was recognised.")
    body = [f"<p>{_share(perfect, n)} of the {n} students have every autograded exercise right. {top}</p>"]

    body.append("<h2>Scores per exercise</h2>")
    body.append(_img(outcome_figure(f), "students per exercise: full marks, wrong, not written, stopped"))
    rows = []
    for g in f.cells:
        got = [r["cells"][g] for r in f.records if g in r["cells"]]
        c = f.outcomes(g)
        mean = sum(x["points"] for x in got) / len(got)
        rows.append([f"<code>{e(g)}</code>", e(f.section.get(g, "")), f"{got[0]['max_points']:g}",
                     f"{mean:.2f}", _share(c["full marks"], len(got)), c["wrong"] + c["some points"],
                     c["not written"], c["stopped"]])
    for g, (most, scores) in f.by_hand.items():
        done = [s for s in scores.values() if s is not None]
        rows.append([f"<code>{e(g)}</code>", e(f.section.get(g, "")), f"{most:g}",
                     f"{sum(done) / len(done):.2f}" if done else "", f"graded by hand: {len(done)} of {len(scores)} so far",
                     "", "", ""])
    body.append(_table(["exercise", "section", "points", "mean", "full marks", "wrong", "not written",
                        "stopped"], rows, numeric=(2, 3, 5, 6, 7)))
    body.append("<p>Total autograded points per student:</p>")
    body.append(_img(total_figure(f), "students per total of autograded points"))

    body.append("<h2>Catalogued mistakes, most common first</h2>")
    if ranked:
        body.append(_img(mistake_figure(f), "students per catalogued mistake"))
        body.append(_table(["mistake", "students", "caught in", "what is wrong", "reread"], [
            [f"<code>{e(m)}</code>", _share(len(f.mistakes[m]), n),
             " ".join(f"<code>{e(g)}</code>" for g in f.cells if any(g in c for c in f.mistakes[m].values())),
             e(f.catalog.get(m, {}).get("why", "(no longer in the catalog)")),
             e(f.catalog.get(m, {}).get("reread", ""))] for m in ranked], numeric=(1,)))
    else:
        body.append("<p>None was recognised.</p>")

    body.append("<h2>Wrong answers no catalogued mistake explains</h2>"
                f"<p>Where the catalog (<code>dltrack/catalogs/{e(f.assignment)}.yml</code>) could grow. "
                "The message is the first line the student saw.</p>")
    loose = f.uncatalogued()
    if loose:
        rows = []
        for g in f.cells:
            if g in loose:
                messages = Counter(msg for _, _, msg in loose[g]).most_common(3)
                rows.append([f"<code>{e(g)}</code>", len(loose[g]),
                             "<br>".join(f"{k}&times; {e(msg[:160])}" for msg, k in messages),
                             e(", ".join(s for s, _, _ in loose[g]))])
        body.append(_table(["exercise", "students", "most common messages", "who"], rows, numeric=(1,)))
    else:
        body.append("<p>None.</p>")

    body.append("<h2>Kernels stopped</h2><p>Timed out, killed (memory, exit) or out of the notebook's "
                "time budget: the cells from there on scored zero.</p>")
    stopped = f.stopped()
    body.append(_table(["student", "what happened", "in", "test cells lost"], [
        [e(s), e(kind), f"<code>{e(g)}</code>", len(lost)] for s, kind, g, lost in stopped], numeric=(3,))
        if stopped else "<p>None.</p>")

    meta = (f"{n} students, {stamp}. One row per student and mistake: "
            f"<code>{e(f.assignment)}.csv</code> beside this page.")
    return _page(f"{f.assignment}: what the class got wrong", meta, "".join(body))


def student_page(f, stamp):
    r = f.records[0]
    got, most = f.score(r)
    rows, reread = [], {}
    for g in f.cells:
        cell = r["cells"].get(g)
        if cell is None:
            continue
        found = [f.catalog[m] for m in cell["mistakes"] if m in f.catalog]
        what = ("" if cell["failure"] is None else
                "<br>".join(e(m["why"]) for m in found) or e(cell["message"] or cell["failure"]))
        rows.append([f"<code>{e(g)}</code>", e(f.section.get(g, "")),
                     f"{cell['points']:g} / {cell['max_points']:g}", what,
                     e(", ".join(dict.fromkeys(m["reread"] for m in found)))])
        for m in found:
            reread.setdefault(m["reread"], []).append(m["why"])
    hand = [(g, most_, scores.get(r["student"])) for g, (most_, scores) in f.by_hand.items()]
    by_hand = "".join(f" <code>{e(g)}</code> ({m:g} points) is graded by hand: "
                      f"{'not graded yet' if s is None else f'{s:g} points'}." for g, m, s in hand)
    body = [f"<p>{got:g} of {most:g} autograded points.{by_hand}</p>",
            "<h2>Exercise by exercise</h2>",
            _table(["exercise", "section", "points", "what went wrong", "reread"], rows, numeric=(2,))]
    body.append("<h2>What to reread</h2>")
    if reread:
        order = [f.section.get(g) for g in f.cells]
        ranked = sorted(reread, key=lambda s: order.index(s) if s in order else len(order))
        body.append("<ol>" + "".join(f"<li><b>{e(s)}</b>: " + " ".join(e(w) for w in dict.fromkeys(reread[s]))
                                     + "</li>" for s in ranked) + "</ol>")
    else:
        body.append("<p>No known mistake was recognised in your answers.</p>")
    return _page(f"{f.assignment}: {r['student']}", stamp, "".join(body))


# ---------------------------------------------------------------- the command

def write(root, assignment, student=None):
    """Write the report of `assignment` (one student's when `student`) into root/reports; its paths."""
    root = Path(root)
    folder = root / "diagnoses" / assignment
    records = diagnosis.read(root / "diagnoses", assignment)
    if student is not None:
        records = [r for r in records if r["student"] == student]
    if not records:
        who = f" of student {student!r}" if student else ""
        raise SystemExit(f"dltrack: no diagnoses{who} in {folder}; they are written by "
                         f"`nbgrader autograde {assignment} --force` (run it again after updating the course)")
    f = Findings(root, assignment, records)
    name = f"{assignment}-{student}" if student else assignment
    out = root / "reports"
    out.mkdir(exist_ok=True)
    page = student_page(f, _stamp(folder)) if student else class_page(f, _stamp(folder))
    (out / f"{name}.html").write_text(page, encoding="utf-8")
    with open(out / f"{name}.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, CSV_FIELDS)
        writer.writeheader()
        writer.writerows(f.rows())
    return out / f"{name}.html", out / f"{name}.csv"


def main(root, assignment, student=None, where=None):
    """`dltrack report`: `where` is the course folder to read (a scratch one of `dltrack grade`), else `root`."""
    if where is not None and not course.is_course(where):
        raise SystemExit(f"dltrack: {where} is not a course folder (no nbgrader_config.py and source/)")
    for path in write(Path(where).resolve() if where else root, assignment, student):
        print(path)
