"""The course as a student and an instructor see it: JupyterLab in headless Chromium.

One JupyterLab, started by `dltrack start --no-browser` on a scratch copy of the
course, serves every test of this module; one Chromium (Debian's /usr/bin/chromium,
driven by Playwright) opens a new page for each test. Each step is saved as a
screenshot; the folder is printed when a test starts and kept when it fails.

    python -m pytest tests/test_browser.py -p no:xdist -q
"""
import getpass
import os
import re
import shutil
import threading

import nbformat
import pytest

import harness
import labdriver as lab_
from labdriver import NOTEBOOK, code_cells, executed, menu, open_from_file_browser, open_lab

A = "01_linear_models"
NB = "linear_models.ipynb"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not lab_.CHROMIUM.exists(), reason=f"needs Debian's chromium at {lab_.CHROMIUM}"),
    pytest.mark.xdist_group("browser"),
]
if lab_.CHROMIUM.exists():
    pytest.importorskip("playwright.sync_api", reason="needs playwright (requirements.txt)")


# ---------------------------------------------------------------- the course, the server, the browser

class Instructor:
    """nbgrader's command line in the course root, in the background while the browser works."""

    def __init__(self, course):
        self.course, self.errors = course, []
        self.released, self.generated = threading.Event(), threading.Event()
        threading.Thread(target=self._prepare, daemon=True).start()

    def _prepare(self):
        try:
            harness.nbgrader(self.course, "release_assignment", A)  # the committed release/, to exchange/
            self.released.set()
            harness.nbgrader(self.course, "generate_assignment", A, "--force")  # the gradebook autograde needs
        except Exception as exc:  # noqa: BLE001 - reported by the test that waits for it
            self.errors.append(exc)
        finally:
            self.released.set()
            self.generated.set()

    def wait(self, event, what):
        assert event.wait(900), f"nbgrader {what} did not finish in 15 minutes"
        assert not self.errors, str(self.errors[0])


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A scratch course: config, section 1's source, and the committed release/ and solutions/."""
    course = harness.scratch_course(tmp_path_factory.mktemp("browser") / "course", [A])
    for folder in ("release", "solutions"):
        shutil.copytree(harness.ROOT / folder / A, course / folder / A)
    return course


@pytest.fixture(scope="module")
def lab(course, tmp_path_factory):
    """`dltrack start --no-browser` on the course, on a free loopback port with a token."""
    server = lab_.Lab(course, tmp_path_factory.mktemp("jupyter"))
    try:
        server.wait_copied()
        server.instructor = Instructor(course)  # after the workspace copy: it regenerates release/
        server.wait_ready()
        # What the student puts in their workspace besides the release: the worked solution,
        # a solved copy to run, and a copy with a catalogued mistake.
        solution = nbformat.read(course / "solutions" / A / NB, 4)
        mine = course / "notebooks" / A
        shutil.copy(course / "solutions" / A / NB, mine / "worked_solution.ipynb")
        shutil.copy(course / "solutions" / A / NB, mine / "solved.ipynb")
        mistake = next(m for m in harness.catalog.load(A) if m["id"] == "run_bias_ignored")
        nbformat.write(harness.substitute(solution, mistake["replaces"], mistake["code"]), mine / "mistake.ipynb")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    with lab_.browser(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def page(chromium, lab, tmp_path, request):
    """A new tab; `page.step(name)` saves a screenshot. The folder is printed, and kept on failure."""
    lab.shutdown_kernels()
    tab = chromium.new_page()
    folder = tmp_path / "screenshots"
    tab.step = lab_.Steps(tab, folder)
    print(f"screenshots of {request.node.name}: {folder}")
    failed = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failed:
        tab.step("at failure")
        print(f"FAILED; screenshots in {folder}")
    elif not os.environ.get("DLTRACK_KEEP_SCREENSHOTS"):
        shutil.rmtree(folder, ignore_errors=True)
    tab.close()


def clean(text, where):
    """The text a student reads carries no escape codes and no HTML markup."""
    assert "\x1b" not in text and not re.search(r"\[\d+(;\d+)*m", text), f"ANSI codes in {where}:\n{text}"
    assert not lab_.RAW_HTML.search(text), f"raw HTML in {where}:\n{text}"


def hidden_test_lines(assignment):
    """The lines of the source's hidden tests, long enough to be recognised."""
    lines, inside = set(), False
    for cell in nbformat.read(harness.source_notebook(assignment), 4).cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 12:
                lines.add(line.strip())
    return lines


# ---------------------------------------------------------------- the student in their workspace

def test_the_workspace_opens_and_section_1_opens_from_the_file_browser(lab, page):
    open_lab(page, lab)
    listing = page.locator(".jp-DirListing-content .jp-DirListing-itemText").all_inner_texts()
    page.step("workspace")
    assert A in listing and "source" not in listing, f"the file browser shows {listing}"
    panel = open_from_file_browser(page, A, NB)
    page.step("section 1 open")
    assert lab_.error_dialogs(page) == []
    assert page.locator(".jp-mod-current .lm-TabBar-tabLabel").inner_text() == NB
    assert "Section 1: Linear models and the perceptron" in panel.locator("h1").first.inner_text()
    assert panel.locator(".jp-MarkdownCell mjx-container, .jp-MarkdownCell .MathJax").count() > 0, \
        "the formulas are not typeset"
    assert panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() == 1


def test_run_all_on_the_release_reaches_every_cell(lab, page, course):
    release_run(lab, page, course)
    missed, cells = _release["missed by run all"], len(_release["cells"])
    assert not missed, f"Run All left {len(missed)} of {cells} code cells unrun, from cell {missed[0]}"


_release = {}


def release_run(lab, page, course):
    """The release notebook's code cells as the page shows them after every cell has run.

    Should Run All stop at a failing cell (test_run_all_... then fails), go on from there
    as a student would: run the first cell not run, and all below, until every cell ran.
    Done once; the tests read the result.
    """
    if "cells" not in _release:
        open_lab(page, lab)
        open_from_file_browser(page, A, NB)
        lab_.restart_and_run_all(page)
        page.step("after run all")
        _release["missed by run all"] = [i for i, c in enumerate(code_cells(page)) if not executed(c)]
        for _ in range(40):
            rest = [i for i, c in enumerate(code_cells(page)) if not executed(c)]
            if not rest:
                break
            before = lab_.last_count(page)
            page.locator(f"{NOTEBOOK} .jp-CodeCell").nth(rest[0]).locator(".jp-InputPrompt").click()
            menu(page, "Run", "Run Selected Cell and All Below")
            lab_.wait_settled(page, before)
        page.step("every cell run")
        cells = code_cells(page)
        assert all(executed(c) for c in cells)
        release = nbformat.read(course / "notebooks" / A / NB, 4)
        _release["cells"] = [(c.metadata.get("nbgrader", {}), shown) for c, shown in
                             zip([c for c in release.cells if c.cell_type == "code"], cells)]
    return _release["cells"]


def test_release_stubs_show_not_implemented_error_in_every_check(lab, page, course):
    cells = release_run(lab, page, course)
    for meta, cell in cells:
        clean(cell["text"], meta.get("grade_id", cell["source"][:40]))
        if meta.get("grade") and meta["grade_id"] != "uv_separates":  # that one reads w_uv: NameError
            assert "Check failed" in cell["text"] and "NotImplementedError" in cell["text"], \
                f"{meta['grade_id']} shows:\n{cell['text']}"
        if meta.get("solution"):  # a stub defines its function quietly, or raises where it runs
            assert not cell["text"].strip() or "NotImplementedError" in cell["text"]
    uses_stubs = [c for m, c in cells if not m]  # the plots and the XOR run call the stubs
    assert uses_stubs and all("NotImplementedError" in c["text"] for c in uses_stubs)


def test_release_stubs_are_not_called_known_mistakes(lab, page, course):
    cells = release_run(lab, page, course)
    named = [m["grade_id"] for m, c in cells if m.get("grade") and "known mistake" in c["text"]]
    assert not named, f"an unwritten stub is called a known mistake in {named}"


def test_plots_render_as_images_and_the_slider_redraws_the_figure(lab, page):
    open_lab(page, lab)
    open_from_file_browser(page, A, "solved.ipynb")
    lab_.restart_and_run_all(page)
    page.step("after run all")
    cells = code_cells(page)
    assert all(executed(c) for c in cells)
    plot, widget = [c for c in cells if "plot_regions(" in c["source"]]
    assert len(plot["images"]) == 1, "the plot of the learned perceptron is not an image"
    assert widget["sliders"] == 1, f"no live slider; the cell shows:\n{widget['text']}"
    assert "IntSlider(" not in widget["text"] and "interactive(" not in widget["text"]
    assert len(widget["images"]) == 1, "the slider's figure is not one image"
    area = page.locator(f"{NOTEBOOK} .jp-CodeCell").nth(cells.index(widget))
    area.scroll_into_view_if_needed()
    before = widget["images"][0]
    readout = area.locator(".widget-readout")
    assert readout.inner_text().strip() == "0"
    area.locator(".noUi-handle").focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("""([cell, before]) => {
        const img = cell.querySelector('.jp-Cell-outputArea img');
        return img && img.complete && img.naturalWidth > 0 && img.src !== before; }""",
        arg=[area.element_handle(), before], polling=500)
    page.step("slider moved")
    assert readout.inner_text().strip() == "1"
    after = code_cells(page)[cells.index(widget)]
    assert len(after["images"]) == 1 and after["images"][0] != before


@pytest.mark.parametrize("name, expected", [
    ("solved.ipynb", "Success! Your notebook passes all the tests."),
    (NB, "The following cell failed"),
])
def test_validate_tells_the_truth(lab, page, name, expected):
    open_lab(page, lab)
    open_from_file_browser(page, A, name)
    page.locator(f"{NOTEBOOK} .jp-Toolbar").get_by_text("Validate", exact=True).click()
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    dialog.wait_for()
    page.step("validation results")
    text = dialog.inner_text()
    assert expected in text, text
    clean(text, "the Validate dialog")
    if name == NB:
        tests = [c for c in nbformat.read(harness.ROOT / "release" / A / NB, 4).cells
                 if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
        assert text.count("The following cell failed") >= len(tests), text
        for cell in tests:
            assert cell.source.splitlines()[0] in text, f"{cell.metadata.nbgrader['grade_id']} is not listed"
        assert "NotImplementedError" in text and "You did not provide a response." in text, text


def test_a_failed_check_shows_expected_received_and_the_named_mistake(lab, page):
    open_lab(page, lab)
    open_from_file_browser(page, A, "mistake.ipynb")
    lab_.restart_and_run_all(page)
    cells = code_cells(page)
    failing = [i for i, c in enumerate(cells) if "Perceptron.run gave a wrong answer" in c["text"]]
    assert failing, "no failed check for Perceptron.run:\n" + "\n".join(c["text"] for c in cells)
    cell = page.locator(f"{NOTEBOOK} .jp-CodeCell").nth(failing[0])
    cell.scroll_into_view_if_needed()
    page.step("failed check")
    cell.screenshot(path=str(page.step.folder / "failed-check-cell.png"))
    text = cells[failing[0]]["text"]
    clean(text, "the failed check")
    assert re.search(r"^\s*expected:\s*\S", text, re.M) and re.search(r"^\s*got:\s*\S", text, re.M), text
    assert re.search(r"^\s*input:\s*\S", text, re.M), text
    assert "This looks like a known mistake: run leaves out the bias" in text, text
    assert 'Reread "The perceptron"' in text, text
    assert "Traceback" not in text and "most recent call last" not in text, text


# ---------------------------------------------------------------- the class: exchange, Formgrader, feedback

_class = {}


def student_fetches_and_submits(lab, page, course):
    """In the Assignments panel: fetch the released assignment, open it, and submit the work.

    Done once; the tests of the Formgrader and the feedback start from it.
    """
    if "submitted" in _class:
        return
    lab.instructor.wait(lab.instructor.released, "release_assignment")
    open_lab(page, lab)
    menu(page, "Nbgrader", "Assignment List")
    released = page.locator("#released_assignments_list")
    released.locator(".list_item", has_text=A).wait_for()
    page.step("released")
    released.locator(".list_item", has_text=A).locator("button", has_text="Fetch").click()
    fetched = page.locator("#fetched_assignments_list .list_item", has_text=A)
    fetched.wait_for()
    page.step("fetched")
    into = course / "notebooks" / "dltrack" / A / NB
    assert into.exists(), f"not fetched into the workspace: {sorted(course.glob('**/' + NB))}"
    # The fetched notebook opens from the panel's link.
    fetched.locator("a.assignment-notebooks-link").click()
    page.locator("#fetched_assignments_list a").get_by_text("linear_models", exact=True).click()
    page.locator(".jp-mod-current .lm-TabBar-tabLabel", has_text=NB).wait_for()
    page.locator(f"{NOTEBOOK} .jp-Cell").first.wait_for(state="visible")
    page.step("fetched notebook open")
    assert lab_.error_dialogs(page) == []
    page.locator(".lm-TabBar-tab", has_text="Assignments").click()
    # The student's work: the worked solution saved over the fetched notebook.
    shutil.copy(course / "solutions" / A / NB, into)
    fetched.locator("button", has_text="Submit").click()
    submitted = page.locator("#submitted_assignments_list .list_item", has_text=A)
    submitted.wait_for()
    page.step("submitted")
    assert list((course / "exchange" / "dltrack" / "inbound").glob(f"{getpass.getuser()}+{A}+*"))
    assert lab_.error_dialogs(page) == [], lab_.error_dialogs(page)
    _class["submitted"] = True


def instructor_collects_and_autogrades(lab, course):
    if "autograded" not in _class:
        lab.instructor.wait(lab.instructor.generated, "generate_assignment")
        harness.nbgrader(course, "collect", A)
        harness.nbgrader(course, "autograde", A, "--force")
        _class["autograded"] = True


def test_assignments_panel_fetches_and_submits(lab, page, course):
    student_fetches_and_submits(lab, page, course)


def test_formgrader_lists_the_submission_after_collect_and_autograde(lab, page, course):
    student_fetches_and_submits(lab, page, course)
    instructor_collects_and_autogrades(lab, course)
    open_lab(page, lab)
    menu(page, "Nbgrader", "Formgrader")
    frame = page.frame_locator(".jp-MainAreaWidget:not(.lm-mod-hidden) iframe")
    count = frame.locator("tr", has_text=A).locator(".num-submissions a")
    count.wait_for()
    page.step("formgrader")
    assert count.inner_text().strip() == "1"
    count.click()
    row = frame.locator("tr", has_text=getpass.getuser())
    row.wait_for()
    page.step("submissions")
    assert row.locator(".student-id").inner_text().strip() == getpass.getuser()
    # The worked solution earns every automatic point; the written answer waits for a grader.
    cells = [c.metadata.get("nbgrader", {}) for c in nbformat.read(course / "release" / A / NB, 4).cells]
    auto = sum(m["points"] for m in cells if m.get("grade") and not m.get("solution"))
    total = sum(m["points"] for m in cells if m.get("grade"))
    assert row.locator(".score").inner_text().strip() == f"{auto:g} / {total:g}"


def test_feedback_html_shows_the_plots_and_no_hidden_tests(lab, page, course):
    student_fetches_and_submits(lab, page, course)
    instructor_collects_and_autogrades(lab, course)
    harness.nbgrader(course, "generate_feedback", A, "--force")
    html = course / "feedback" / getpass.getuser() / A / "linear_models.html"
    page.goto(html.as_uri())
    page.wait_for_load_state("load")
    page.step("feedback")
    images = page.locator("img").evaluate_all("imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
    assert len(images) >= 2 and all(images), f"feedback images loaded: {images}"
    slider = page.locator(".cell", has_text="explore(draw")
    slider.screenshot(path=str(page.step.folder / "feedback-slider-cell.png"))
    assert slider.locator("img").count() == 1, "the slider's figure is missing from the feedback"
    text = page.locator("body").inner_text()
    assert "BEGIN HIDDEN TESTS" not in text and "AUTOTEST" not in text
    leaked = [line for line in hidden_test_lines(A) if line in text]
    assert not leaked, f"hidden test lines in the feedback: {leaked[:3]}"
    clean(text, "the feedback page")


# ---------------------------------------------------------------- worked solutions, and no widget front end

def test_the_worked_solution_opens_with_its_figures(lab, page):
    open_lab(page, lab)
    open_from_file_browser(page, A, "worked_solution.ipynb")
    page.step("worked solution, as saved")
    cells = code_cells(page)
    plot, widget = [c for c in cells if "plot_regions(" in c["source"]]
    assert len(plot["images"]) == 1
    assert len(widget["images"]) == 1, f"the saved widget output shows:\n{widget['text']}"
    assert "Error displaying widget" not in widget["text"] and "IntSlider(" not in widget["text"]
    sources = "\n".join(c["source"] for c in cells)
    assert "HIDDEN TESTS" not in sources and "AUTOTEST" not in sources


def test_without_a_widget_front_end_the_slider_is_a_static_figure(page, course, tmp_path):
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_filename(str(course / "solutions" / A / NB))
    path = tmp_path / "worked_solution.html"
    path.write_text(html)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    page.step("nbconvert html")
    text = page.locator("body").inner_text()
    assert "Error displaying widget" not in text and "IntSlider(" not in text and "interactive(" not in text
    cell = page.locator(".jp-CodeCell", has_text="explore(draw")
    cell.screenshot(path=str(page.step.folder / "slider-cell.png"))
    images = cell.locator("img").evaluate_all("imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
    assert images == [True], f"the slider's cell shows images {images}:\n{cell.inner_text()}"
    assert "HIDDEN TESTS" not in text and "AUTOTEST" not in text
