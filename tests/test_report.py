"""The misconception report: grade a synthetic class of section 1 with the real nbgrader CLI,
then `dltrack report` must count each planted mistake exactly as often as it was planted,
in the CSV and on the page.

One autograde of the class (about 40 s on an idle machine) serves every test of this module.
To look at a graded class by hand: python tests/test_report.py FOLDER
"""
import csv
import html
import json
import shutil
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

import harness
import labdriver as lab_
from test_class import HANGS_ON_BIG_BATCHES

A = "01_linear_models"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("report")]


def mistake(id_):
    return next(m for m in harness.catalog.load(A) if m["id"] == id_)


# student -> the catalogued mistakes planted in their notebook (each one's code in place of its solution cell)
PLANTED = {
    "ada": ["run_ge_boundary"], "ben": ["run_ge_boundary"], "cem": ["run_ge_boundary"],
    "dia": ["epoch_sign_flipped"], "eli": ["epoch_sign_flipped"],
    "fay": ["run_ge_boundary", "epoch_sign_flipped"],
    "gus": ["decision_bias_forgotten"], "hal": ["decision_bias_forgotten"],
    "ida": [], "jon": [],
}
EXPECTED = Counter(m for ids in PLANTED.values() for m in ids)  # run_ge_boundary 4, epoch_sign_flipped 3, ...
# student -> (solution cell, code): a wrong answer no catalog entry describes, kernels that stop
UNCATALOGUED = {"kim": ("decision", 'def decision(w, b, X):\n    raise ValueError("I give up")')}
DIES = {"nia": ("perceptron", "import os\nos._exit(1)")}
# lou's run waits on big batches until the cell limit stops it, asleep, so the wait costs no CPU
HANGS = {"lou": ("perceptron", HANGS_ON_BIG_BATCHES.replace("pass", "__import__('time').sleep(0.2)"))}
STUB = "max"
CELL_TIMEOUT = "5"  # seconds the hanging student costs


def grade_class(where):
    """A scratch course with the class above submitted and autograded; returns its folder."""
    course = harness.generated_course(where, [A])
    source = harness.without_demos(nbformat.read(harness.source_notebook(A), 4))  # quicker, same points
    for student, ids in PLANTED.items():
        nb = source
        for id_ in ids:
            nb = harness.substitute(nb, mistake(id_)["replaces"], mistake(id_)["code"])
        harness.submit(course, A, student, nb)
    for student, (cell, code) in {**UNCATALOGUED, **DIES, **HANGS}.items():
        harness.submit(course, A, student, harness.substitute(source, cell, code))
    harness.submit(course, A, STUB, nbformat.read(next((course / "release" / A).glob("*.ipynb")), 4))
    harness.nbgrader(course, "autograde", A, "--force", env={"DLTRACK_CELL_TIMEOUT": CELL_TIMEOUT})
    return course


def report(course, *args, ok=True):
    done = subprocess.run([sys.executable, "-m", "dltrack.cli", "report", A, *args], cwd=course,
                          capture_output=True, text=True, timeout=300)
    assert (done.returncode == 0) == ok, done.stdout + done.stderr
    return done


class Tables(HTMLParser):
    """The tables of a page: for each, its rows as lists of cell texts (the header row first)."""

    def __init__(self, text):
        super().__init__()
        self.tables, self.cell = [], None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(" ".join(self.cell.split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def named(self, *headers):
        """The first table that has these headers, as dicts keyed by its headers."""
        table = next(t for t in self.tables if set(headers) <= set(t[0]))
        return [dict(zip(table[0], row)) for row in table[1:]]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = grade_class(tmp_path_factory.mktemp("report"))
    report(course)
    return course


@pytest.fixture(scope="module")
def page(course):
    return (course / "reports" / f"{A}.html").read_text()


def test_the_csv_counts_each_planted_mistake_as_often_as_it_was_planted(course):
    with open(course / "reports" / f"{A}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert Counter(r["mistake"] for r in rows) == EXPECTED
    assert {(r["student"], r["mistake"]) for r in rows} == {(s, m) for s, ids in PLANTED.items() for m in ids}
    for r in rows:
        assert (r["why"], r["reread"]) == (mistake(r["mistake"])["why"], mistake(r["mistake"])["reread"])
        assert set(r["found_in"].split()) <= set(mistake(r["mistake"])["caught_by"])


def test_the_page_ranks_the_mistakes_with_their_counts_why_and_what_to_reread(page):
    rows = Tables(page).named("mistake", "what is wrong")
    assert [r["mistake"] for r in rows] == [m for m, _ in EXPECTED.most_common()]
    students = len(PLANTED) + len(UNCATALOGUED) + len(DIES) + len(HANGS) + 1
    for r in rows:
        n = EXPECTED[r["mistake"]]
        assert r["students"] == f"{n} ({n / students:.0%})"
        assert r["what is wrong"] == mistake(r["mistake"])["why"]
        assert r["reread"] == mistake(r["mistake"])["reread"]


def test_the_page_gives_each_exercise_its_share_of_full_marks(page):
    rows = {r["exercise"]: r for r in Tables(page).named("exercise", "full marks")}
    students = len(PLANTED) + len(UNCATALOGUED) + len(DIES) + len(HANGS) + 1
    # decision_values: wrong for the two who forgot the bias and the one who raises, unwritten in the stub
    full = students - 2 - 1 - 1
    assert rows["decision_values"]["full marks"] == f"{full} ({full / students:.0%})"
    assert (rows["decision_values"]["wrong"], rows["decision_values"]["not written"]) == ("3", "1")
    assert rows["perceptron_init"]["stopped"] == "1", "the kernel that died in the perceptron cell"
    assert "graded by hand" in rows["xor_answer"]["full marks"]


def test_the_page_lists_wrong_answers_no_mistake_explains_and_leaves_out_unwritten_stubs(page):
    rows = {r["exercise"]: r for r in Tables(page).named("exercise", "who")}
    assert rows["decision_values"]["students"] == "1" and rows["decision_values"]["who"] == "kim"
    assert "I give up" in rows["decision_values"]["most common messages"]
    assert "perceptron_init" not in rows, "only the stub and the dead kernel lost it: not a wrong answer"
    # The stub's unwritten value cell leaves a NameError in uv_separates, which the diagnosis
    # cannot tell from a wrong answer; its unwritten functions are left out.
    assert [g for g, r in rows.items() if STUB in r["who"].split(", ")] == ["uv_separates"]


def test_the_page_lists_the_kernel_that_died(page):
    rows = {r["student"]: r for r in Tables(page).named("student", "what happened")}
    assert rows["nia"]["what happened"] == "kernel died" and rows["nia"]["in"] == "perceptron_init"


def test_the_page_lists_the_kernel_that_timed_out(page):
    rows = {r["student"]: r for r in Tables(page).named("student", "what happened")}
    assert rows["lou"]["what happened"] == "timeout"


def test_one_students_page_lists_their_mistakes_in_notebook_order_and_what_to_reread(course):
    report(course, "--student", "fay")
    text = (course / "reports" / f"{A}-fay.html").read_text()
    rows = {r["exercise"]: r for r in Tables(text).named("exercise", "what went wrong")}
    assert rows["perceptron_run_single"]["what went wrong"] == mistake("run_ge_boundary")["why"]
    assert rows["epoch_updates"]["reread"] == "Learning the weights"
    assert rows["decision_values"]["points"] == "2 / 2" and rows["decision_values"]["what went wrong"] == ""
    reread = text.split("What to reread")[1]
    assert reread.index("The perceptron") < reread.index("Learning the weights")


def test_a_self_paced_students_grading_folder_gets_its_page(course):
    """`dltrack grade` grades in .grading/<assignment> as the student "student"."""
    scratch = course / ".grading" / A
    harness.scratch_course(scratch, [A])
    record = json.loads((course / "diagnoses" / A / "ada.json").read_text())
    (scratch / "diagnoses" / A).mkdir(parents=True)
    (scratch / "diagnoses" / A / "student.json").write_text(json.dumps(dict(record, student="student")))
    done = report(course, "--student", "student", "--course", f".grading/{A}")
    page = scratch / "reports" / f"{A}-student.html"
    assert str(page) in done.stdout
    assert mistake("run_ge_boundary")["why"] in html.unescape(page.read_text())
    shutil.rmtree(course / ".grading")


def test_without_diagnoses_it_says_where_it_looked(course):
    done = report(course, "--student", "nobody", ok=False)
    assert "no diagnoses of student 'nobody'" in done.stderr and "nbgrader autograde" in done.stderr


@pytest.mark.browser
@pytest.mark.skipif(not lab_.CHROMIUM.exists(), reason=f"needs Debian's chromium at {lab_.CHROMIUM}")
def test_the_page_shows_its_figures_and_tables_offline(course, tmp_path):
    pytest.importorskip("playwright.sync_api", reason="needs playwright (requirements.txt)")
    asked = []

    def offline(route):
        asked.append(route.request.url)
        return route.continue_() if route.request.url.startswith("file:") else route.abort()

    with lab_.browser(tmp_path / "profile") as context:
        tab = context.new_page()
        tab.route("**/*", offline)
        tab.goto((course / "reports" / f"{A}.html").as_uri())
        widths = tab.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
        headers = tab.eval_on_selector_all("th", "ths => ths.map(t => t.textContent)")
        tab.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert len(widths) == 3 and all(w > 0 for w in widths), widths
    assert {"mistake", "what is wrong", "reread", "full marks"} <= set(headers)
    assert [u for u in asked if not u.startswith("file:")] == []


if __name__ == "__main__":
    print(grade_class(Path(sys.argv[1])))
