"""A class on a hub: deploy/jupyterhub_config.py served to an instructor and two students.

One JupyterHub (with configurable-http-proxy) on free loopback ports, its state in a
temp folder, the instructor's course a scratch copy of the course. In Debian's headless
Chromium (driven by Playwright) both students fetch section 1 from the Assignments
panel; one submits the worked solution, the other the stub. The instructor releases,
collects, autogrades and returns feedback with nbgrader's command line in the course
folder, and sees the submissions in the Formgrader, a hub service. Each student opens
their feedback; nobody reaches what is not theirs. Screenshots of every step go to a
folder that is printed, and kept when the test fails (or with DLTRACK_KEEP_SCREENSHOTS).

    python -m pytest tests/test_hub.py -n 0 -q
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import nbformat
import psutil
import pytest

import harness
import labdriver as lab_
from labdriver import menu

A = "01_linear_models"
NB = "linear_models.ipynb"
INSTRUCTOR, STUDENTS = "instructor", ("student1", "student2")
CONFIG = harness.ROOT / "deploy" / "jupyterhub_config.py"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not lab_.CHROMIUM.exists(), reason=f"needs Debian's chromium at {lab_.CHROMIUM}"),
    pytest.mark.skipif(not shutil.which("configurable-http-proxy"),
                       reason="needs configurable-http-proxy (npm install -g configurable-http-proxy, README)"),
    pytest.mark.xdist_group("hub"),
]
if lab_.CHROMIUM.exists():
    pytest.importorskip("playwright.sync_api", reason="needs playwright (requirements.txt)")
    pytest.importorskip("jupyterhub", reason="needs jupyterhub (requirements.txt)")


class Hub:
    """`jupyterhub -f deploy/jupyterhub_config.py` with its state in `state`, serving `course`."""

    def __init__(self, state, course):
        self.state, self.course = Path(state), Path(course)
        self.port = lab_.free_port()
        self.passwords = {user: f"pw-{user}-{os.urandom(4).hex()}" for user in (INSTRUCTOR, *STUDENTS)}
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "passwords").write_text("".join(f"{u} {p}\n" for u, p in self.passwords.items()))
        for user in (INSTRUCTOR, *STUDENTS):  # no news pop-ups, every cell in the page
            for name, values in lab_.USER_SETTINGS.items():
                path = (self.state / "homes" / user / ".jupyter" / "lab" / "user-settings"
                        / f"{name}.jupyterlab-settings")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(values))
        self.env = dict(os.environ, DLTRACK_HUB_STATE=str(self.state), DLTRACK_HUB_COURSE=str(self.course),
                        DLTRACK_HUB_URL=self.url, DLTRACK_HUB_INSTRUCTORS=INSTRUCTOR,
                        DLTRACK_HUB_STUDENTS=" ".join(STUDENTS))
        self.log_path = self.state / "jupyterhub.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(CONFIG)], cwd=self.state,
            env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
            # Ctrl-C as in a terminal: a worker of pytest-xdist may ignore SIGINT, and the Formgrader
            # would inherit that and keep the hub waiting when it stops.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def exchange(self):
        return self.state / "exchange"

    def home(self, user):
        return self.state / "homes" / user

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout=120):
        end = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/hub/api", timeout=10):
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterHub stopped:\n{self.log()[-5000:]}")
            if time.monotonic() > end:
                raise TimeoutError(f"JupyterHub not ready within {timeout} s:\n{self.log()[-5000:]}")
            time.sleep(0.25)

    def nbgrader(self, *args):
        """The instructor's nbgrader command line in the course folder, on the hub's exchange."""
        return harness.nbgrader(self.course, *args, env={"DLTRACK_EXCHANGE": str(self.exchange)})

    def stop(self):
        """SIGTERM: the hub stops its servers, the Formgrader and the proxy; whatever is left is killed."""
        try:
            started = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            started = []
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        for child in started:  # only the processes this hub started
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        self._log.close()


class Instructor(threading.Thread):
    """Generate and release section 1 in the background while the students sign in."""

    def __init__(self, hub):
        super().__init__(daemon=True)
        self.hub, self.error = hub, None
        self.start()

    def run(self):
        try:
            self.hub.nbgrader("generate_assignment", A, "--force")  # the gradebook needs it
            self.hub.nbgrader("release_assignment", A)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def released(self):
        self.join(600)
        assert not self.is_alive(), "generate and release did not finish in 10 minutes"
        assert self.error is None, str(self.error)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    course = harness.scratch_course(root / "course", [A])
    for folder in ("release", "solutions"):
        shutil.copytree(harness.ROOT / folder / A, course / folder / A)
    server = Hub(root / "state", course)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def sign_in(context, hub, user, folder):
    """A new tab: the hub's login page, the user's name and password, then their JupyterLab."""
    page = context.new_page()
    page.step = lab_.Steps(page, folder / user)
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", hub.passwords[user])
    page.click("#login_submit")
    return page


def wait_lab(page):
    page.wait_for_selector(".jp-DirListing-content")
    page.wait_for_selector("#jp-main-statusbar")


def assignments_panel(page):
    menu(page, "Nbgrader", "Assignment List")
    page.locator("#released_assignments_list, #fetched_assignments_list").first.wait_for()


def fetch(page, hub, user):
    """Fetch section 1 in the Assignments panel; the notebook lands in the student's home."""
    assignments_panel(page)
    released = page.locator("#released_assignments_list .list_item", has_text=A)
    released.wait_for()
    page.step("released")
    released.locator("button", has_text="Fetch").click()
    page.locator("#fetched_assignments_list .list_item", has_text=A).wait_for()
    page.step("fetched")
    notebook = hub.home(user) / "dltrack" / A / NB
    assert notebook.exists(), f"{user}: not fetched into the home folder"
    return notebook


def submit(page):
    page.locator("#fetched_assignments_list .list_item", has_text=A).locator("button", has_text="Submit").click()
    page.locator("#submitted_assignments_list .list_item", has_text=A).wait_for()
    page.step("submitted")
    assert lab_.error_dialogs(page) == [], lab_.error_dialogs(page)


def fetch_feedback(page, hub, user):
    """Fetch Feedback in the panel, follow (view feedback), open the page; its text."""
    page.reload()
    wait_lab(page)
    assignments_panel(page)
    submitted = page.locator("#submitted_assignments_list .list_item", has_text=A)
    submitted.locator("button", has_text="Fetch Feedback").click()
    view = submitted.get_by_text("(view feedback)")
    view.wait_for()
    view.click()
    page.locator(".jp-DirListing-item", has_text="linear_models.html").wait_for()
    page.step("feedback fetched")
    [html] = (hub.home(user) / "dltrack" / A / "feedback").glob(f"*/{NB.replace('.ipynb', '.html')}")
    url = f"{hub.url}/user/{user}/files/{html.relative_to(hub.home(user)).as_posix()}"
    page.goto(url)
    page.wait_for_load_state("load")
    page.step("feedback")
    return url, page.locator("body").inner_text()


def server_root(hub, user):
    """The file system as `user`'s server sees it, through /proc (the hub's user may look)."""
    for process in psutil.Process(hub.process.pid).children(recursive=True):
        try:
            command = process.cmdline()
            if (command and not command[0].endswith("bwrap") and "jupyterhub-singleuser" in " ".join(command)
                    and process.environ().get("JUPYTERHUB_USER") == user):
                return Path(f"/proc/{process.pid}/root")
        except psutil.Error:
            continue
    raise LookupError(f"no server of {user} among the hub's processes")


def points(notebook):
    cells = [c.metadata.get("nbgrader", {}) for c in nbformat.read(notebook, 4).cells]
    return sum(m["points"] for m in cells if m.get("grade") and not m.get("solution"))


def reaches_nothing(page, url, what):
    """`url` opened in `page` shows neither the thing nor a JupyterLab: a refusal or the login page."""
    reply = page.goto(url)
    page.wait_for_load_state("load")
    text = page.locator("body").inner_text()
    page.step(f"refused {what}")
    assert page.locator(".jp-LabShell, #formgrader, .feedback").count() == 0, f"{what} opened: {page.url}"
    assert reply.status in (403, 404) or "/hub/login" in page.url, f"{what}: {reply.status} {page.url}\n{text}"
    return reply.status, page.url, text


def test_a_class_on_the_hub(hub, tmp_path):
    from playwright.sync_api import sync_playwright

    folder = tmp_path / "screenshots"
    print(f"screenshots: {folder}")
    instructor = Instructor(hub)
    pages = []
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(lab_.CHROMIUM), headless=True, args=lab_.FLAGS)
        try:
            contexts = {user: chromium.new_context(viewport={"width": 1400, "height": 1000})
                        for user in (None, INSTRUCTOR, *STUDENTS)}
            for context in contexts.values():
                context.set_default_timeout(lab_.WAIT)
            anonymous = contexts[None].new_page()
            anonymous.step = lab_.Steps(anonymous, folder / "anonymous")
            pages.append(anonymous)
            try:
                scenario(hub, contexts, anonymous, instructor, folder, pages)
            except BaseException:
                for page in pages:
                    page.step.count = 90
                    page.step("at failure")
                print(f"FAILED; screenshots in {folder}\nhub log: {hub.log_path}")
                raise
        finally:
            chromium.close()
    if not os.environ.get("DLTRACK_KEEP_SCREENSHOTS"):
        shutil.rmtree(folder, ignore_errors=True)


def scenario(hub, contexts, anonymous, instructor, folder, pages):
    s1, s2 = STUDENTS
    # Not signed in: every page of the hub leads to the login page, and the API answers 403.
    for path in (f"/user/{s1}/lab", f"/user/{s1}/files/dltrack/{A}/{NB}", "/services/dltrack/formgrader",
                 "/hub/admin", "/hub/home"):
        reaches_nothing(anonymous, hub.url + path, f"{path} without signing in")
        assert "/hub/login" in anonymous.url and anonymous.locator("#login_submit").count() == 1, anonymous.url
    assert anonymous.request.get(f"{hub.url}/hub/api/users").status == 403

    # Both students sign in (the hub starts their servers side by side) and fetch section 1.
    one = sign_in(contexts[s1], hub, s1, folder)
    two = sign_in(contexts[s2], hub, s2, folder)
    pages += [one, two]
    for page in (one, two):
        wait_lab(page)
        page.step("signed in")
    # Each server is sandboxed: its view of the file system holds its own home, the exchange and
    # Python, not the other homes, the course (solutions, gradebook) or the hub's passwords.
    if shutil.which("bwrap"):
        view = {user: server_root(hub, user) for user in STUDENTS}
        shown = {user: [p for p in (hub.home(s1), hub.home(s2), hub.course / "source", hub.state / "passwords",
                                    hub.exchange / "dltrack" / "outbound") if (root / str(p).lstrip("/")).exists()]
                 for user, root in view.items()}
        assert shown == {s1: [hub.home(s1), hub.exchange / "dltrack" / "outbound"],
                         s2: [hub.home(s2), hub.exchange / "dltrack" / "outbound"]}, shown
    instructor.released()
    solved = fetch(one, hub, s1)
    # A student's Nbgrader menu has the Assignments panel, not the Formgrader.
    one.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile("^Nbgrader$")).click()
    entries = one.locator(".lm-Menu:not(.lm-mod-hidden) .lm-Menu-itemLabel").all_inner_texts()
    one.keyboard.press("Escape")
    assert "Assignment List" in entries and "Formgrader" not in entries, entries
    stub = fetch(two, hub, s2)
    assert nbformat.read(stub, 4) == nbformat.read(hub.course / "release" / A / NB, 4)
    # One solves it (the worked solution saved over the fetched notebook), the other submits the stub.
    shutil.copy(hub.course / "solutions" / A / NB, solved)
    submit(one)
    submit(two)
    for page in (one, two):  # each panel lists the student's own submission only: one timestamp
        listed = page.locator("#submitted_assignments_list").inner_text()
        assert len(re.findall(r"\d{4}-\d\d-\d\d [\d:.]+ UTC", listed)) == 1, listed
    inbound = sorted(p.name.split("+")[0] for p in (hub.exchange / "dltrack" / "inbound").iterdir())
    assert inbound == [s1, s2], f"the exchange's inbound holds {inbound}"

    # The instructor collects, autogrades and returns feedback in the course folder.
    hub.nbgrader("collect", A)
    hub.nbgrader("autograde", A, "--force")
    hub.nbgrader("generate_feedback", A, "--force")
    hub.nbgrader("release_feedback", A)
    auto = points(hub.course / "release" / A / NB)
    assert auto == 13

    # The Formgrader, a hub service, lists both submissions with their scores.
    teacher = sign_in(contexts[INSTRUCTOR], hub, INSTRUCTOR, folder)
    pages.append(teacher)
    wait_lab(teacher)
    teacher.goto(f"{hub.url}/services/dltrack/formgrader/manage_submissions/{A}")
    rows = teacher.locator("#submissions tr, tbody tr", has=teacher.locator(".student-id"))
    rows.nth(1).wait_for()
    teacher.step("formgrader submissions")
    scores = {rows.nth(i).locator(".student-id").inner_text().strip():
              rows.nth(i).locator(".score").inner_text().strip() for i in range(rows.count())}
    assert set(scores) == {s1, s2}, scores
    assert scores[s1].startswith(f"{auto:g} /") and scores[s2].startswith("0 /"), scores

    # Each student opens their own feedback: full marks, and zero with the reasons.
    url_one, text_one = fetch_feedback(one, hub, s1)
    url_two, text_two = fetch_feedback(two, hub, s2)
    assert re.search(rf"Score:\s*{auto:g}(\.0)?\s*/", text_one), text_one[:500]
    assert re.search(r"Score:\s*0(\.0)?\s*/", text_two), text_two[:500]
    assert "NotImplementedError" in text_two and "NotImplementedError" not in text_one

    # Nobody reaches what is not theirs.
    reaches_nothing(two, url_one, "the other student's feedback")
    reaches_nothing(two, f"{hub.url}/user/{s1}/lab", "the other student's server")
    reaches_nothing(two, f"{hub.url}/user/{s1}/files/dltrack/{A}/{NB}", "the other student's notebook")
    reaches_nothing(two, f"{hub.url}/services/dltrack/formgrader", "the Formgrader")
    reaches_nothing(two, f"{hub.url}/hub/admin", "the hub's admin page")
    for path in (f"../{s1}/dltrack/{A}/{NB}", "../../exchange/dltrack/inbound"):
        reply = contexts[s2].request.get(f"{hub.url}/user/{s2}/api/contents/{path.replace('.', '%2E')}")
        assert reply.status in (400, 403, 404), f"{path} through the contents API: {reply.status}"
