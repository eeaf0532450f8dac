"""Pages read without internet, and a notebook that opens unmodified: in Debian's headless Chromium.

Every request that is not to this machine is refused (page.route), as on a laptop offline:
the feedback page and the worked solution must still show their formulas typeset (MathML,
no `$` left) and name every exercise; a notebook that `dltrack start` put in the workspace
must not show as modified when JupyterLab opens it.
"""
import getpass
import re
import shutil
from urllib.parse import urlparse

import nbformat
import pytest

import harness
import labdriver as lab_

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not lab_.CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)")]
A = "01_linear_models"
NB = "linear_models.ipynb"
LOCAL = {"127.0.0.1", "localhost", "::1", ""}


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    pytest.importorskip("playwright.sync_api", reason="needs playwright (requirements.txt)")
    with lab_.browser(tmp_path_factory.mktemp("chromium-profile")) as context:
        refused = []

        def offline(route):
            host = urlparse(route.request.url).hostname or ""
            if host in LOCAL:
                route.continue_()
            else:
                refused.append(route.request.url)
                route.abort("internetdisconnected")

        context.route("**/*", offline)
        context.refused = refused
        yield context


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = harness.generated_course(tmp_path_factory.mktemp("offline") / "course", [A])  # in the gradebook
    for folder in ("release", "solutions"):  # as committed (normalised by `dltrack build`)
        shutil.copytree(harness.ROOT / folder / A, course / folder / A, dirs_exist_ok=True)
    return course


def rendered(page):
    """What the page shows: the number of typeset formulas, the prose text, the summary entries."""
    maths = page.locator("math").count()
    prose = " ".join(page.locator(".text_cell_render, .jp-MarkdownOutput").all_inner_texts())
    summary = page.locator("#toc li a").all_inner_texts()
    return maths, prose, summary


def test_feedback_and_worked_solution_show_typeset_maths_offline(chromium, course, tmp_path):
    from dltrack.feedback import OfflineHTMLExporter

    user = getpass.getuser()
    (course / "submitted" / user / A).mkdir(parents=True)
    shutil.copy(course / "solutions" / A / NB, course / "submitted" / user / A / NB)
    harness.nbgrader(course, "autograde", A, "--force")
    harness.nbgrader(course, "generate_feedback", A, "--force")
    feedback = course / "feedback" / user / A / "linear_models.html"
    worked, _ = OfflineHTMLExporter().from_filename(str(course / "solutions" / A / NB))
    (tmp_path / "worked_solution.html").write_text(worked)

    page = chromium.new_page()
    for path in (feedback, tmp_path / "worked_solution.html"):
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(tmp_path / f"{path.stem}.png"), full_page=False)
        maths, prose, summary = rendered(page)
        formulas = sum(c.source.count("$") for c in nbformat.read(course / "solutions" / A / NB, 4).cells
                       if c.cell_type == "markdown") // 2
        assert maths >= formulas // 2 > 0, f"{path.name}: {maths} typeset formulas"
        assert "$" not in prose, f"{path.name} shows raw TeX: {re.findall(r'.{30}[$].{30}', prose)[:3]}"
        # No line of output runs off the page: nothing is wider than the window.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path.name
    # The feedback page's summary names every graded cell.
    page.goto(feedback.as_uri())
    _, _, summary = rendered(page)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nbformat.read(course / "release" / A / NB, 4).cells
           if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(summary) == len(ids) and "Test cell" not in " ".join(summary), summary
    assert all(grade_id in entry for grade_id, entry in zip(ids, summary)), summary
    assert chromium.refused == [] or all("mathjax" not in url.lower() for url in chromium.refused)
    page.close()


def test_a_workspace_notebook_opens_unmodified(chromium, course, tmp_path):
    lab = lab_.Lab(course, tmp_path / "jupyter")
    try:
        lab.wait_copied()
        lab.wait_ready()
        page = chromium.new_page()
        lab_.open_lab(page, lab)
        lab_.open_from_file_browser(page, A, NB)
        page.wait_for_timeout(3000)  # JupyterLab writes the kernel's metadata just after it connects
        tab = page.locator(".lm-TabBar-tab.jp-mod-current", has_text=NB)
        assert tab.count() == 1
        assert "jp-mod-dirty" not in (tab.get_attribute("class") or ""), "opened as modified"
        page.close()
    finally:
        lab.stop()
