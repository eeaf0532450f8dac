"""Drive the course's JupyterLab in Debian's headless Chromium, with Playwright.

`Lab` starts `dltrack start --no-browser` on a scratch course, on a free loopback
port with a token, in a Jupyter configuration of its own; `browser` opens
/usr/bin/chromium with the flags this machine needs; the functions below do what
a student does with the mouse (open from the file browser, Run All, Validate) and
read what the page shows.
"""
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT = 180_000  # ms: the machine may be busy; every wait is for a condition, never a fixed time
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
RAW_HTML = re.compile(r"</?(div|span|pre|img|table|b|br|p|code)\b[^>]*>|&lt;|&gt;|&amp;")

# What a test run does not want from JupyterLab: news pop-ups, and cells left
# out of the page because they are scrolled away (the default windowing).
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab started by `dltrack start` in `course`; `stop()` ends it and its kernels."""

    def __init__(self, course, home):
        self.course, self.home = Path(course), Path(home)
        self.port, self.token = free_port(), secrets.token_hex(16)
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(self.home / "config"),
                   JUPYTER_DATA_DIR=str(self.home / "data"), JUPYTER_RUNTIME_DIR=str(self.home / "runtime"))
        for name, values in USER_SETTINGS.items():
            path = self.home / "config" / "lab" / "user-settings" / f"{name}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        args = ["--no-browser", f"--port={self.port}", "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={self.token}", "--ServerApp.port_retries=0"]
        self.log_path = self.home / "jupyterlab.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dltrack.cli", "start", *args], cwd=self.course, env=env,
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_copied(self, timeout=120):
        """Wait until `dltrack start` has filled the workspace (it prints `copied ...` first)."""
        self._wait(lambda: "copied " in self.log() or "JupyterLab" in self.log(), timeout, "the workspace")

    def wait_ready(self, timeout=240):
        def answers():
            try:
                self.api("GET", "api/status")
                return True
            except OSError:
                return False
        self._wait(answers, timeout, "JupyterLab")

    def _wait(self, ready, timeout, what):
        end = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab stopped:\n{self.log()}")
            if time.monotonic() > end:
                raise TimeoutError(f"{what} not ready within {timeout} s:\n{self.log()}")
            time.sleep(0.25)

    def api(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/{path}", data=data, method=method, headers={
            "Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            text = reply.read().decode()
        return json.loads(text) if text else None

    def shutdown_kernels(self):
        """A fresh kernel for the next notebook: end every session this server holds."""
        for session in self.api("GET", "api/sessions"):
            self.api("DELETE", f"api/sessions/{session['id']}")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # JupyterLab's own clean stop: kernels too
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # our own process group only
                self.process.wait(timeout=30)
        self._log.close()


@contextmanager
def browser(profile):
    """Chromium from Debian, headless, with a fresh profile folder."""
    from playwright.sync_api import sync_playwright

    shutil.rmtree(profile, ignore_errors=True)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(WAIT)
        try:
            yield context
        finally:
            context.close()


class Steps:
    """A screenshot at each step, numbered, into `folder`."""

    def __init__(self, page, folder):
        self.page, self.folder, self.count = page, Path(folder), 0
        self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, name):
        self.count += 1
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower())}.png"
        try:
            self.page.screenshot(path=str(path))
        except Exception as exc:  # noqa: BLE001 - a screenshot must never hide the real failure
            print(f"screenshot {path.name} failed: {exc}")
        return path


# ---------------------------------------------------------------- what a student does

def open_lab(page, lab):
    """JupyterLab with a fresh layout (no tabs restored), file browser showing."""
    page.goto(f"{lab.url}/lab?reset&token={lab.token}")
    page.wait_for_selector(".jp-DirListing-content")
    page.wait_for_selector("#jp-main-statusbar")


def menu(page, top, item):
    """Click a main-menu entry, e.g. menu(page, "Run", "Run All Cells")."""
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu:not(.lm-mod-hidden) .lm-Menu-itemLabel",
                 has_text=re.compile(f"^{re.escape(item)}")).first.click()


def open_from_file_browser(page, *parts):
    """Double-click through folders, then the file, as a student does; wait for its kernel."""
    page.locator(".jp-BreadCrumbs-home").click()
    for name in parts:
        page.locator(".jp-DirListing-item", has=page.locator(
            ".jp-DirListing-itemText", has_text=re.compile(f"^{re.escape(name)}$"))).dblclick()
    page.locator(f"{NOTEBOOK} .jp-Cell").first.wait_for(state="visible")
    wait_kernel_idle(page)
    return page.locator(NOTEBOOK)


def wait_kernel_idle(page):
    """The status bar names the open notebook's kernel and says it is idle."""
    page.locator("#jp-main-statusbar", has_text=re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for()


def error_dialogs(page):
    """Texts of the dialogs open now (JupyterLab shows errors in .jp-Dialog)."""
    return [d.inner_text() for d in page.locator(".jp-Dialog").all()]


_DONE = r"""(before) => {
  const nb = document.querySelector('%s');
  const prompts = [...nb.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent);
  const counts = prompts.map(p => parseInt((p.match(/\d+/) || ['0'])[0]));
  const idle = nb.querySelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
    && /\| Idle/.test(document.querySelector('#jp-main-statusbar').innerText);
  const ok = idle && !prompts.some(p => p.includes('*')) && Math.max(0, ...counts) > before;
  window.__settled = ok ? (window.__settled || 0) + 1 : 0;
  return window.__settled >= 3;
}""" % NOTEBOOK


def last_count(page):
    """The highest execution count shown in the open notebook (0 when none)."""
    return page.locator(f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt").evaluate_all(
        "ps => Math.max(0, ...ps.map(p => parseInt((p.textContent.match(/\\d+/) || ['0'])[0])))")


def wait_settled(page, before=0):
    """Wait until a cell ran after execution count `before`, nothing is queued or running,
    and the kernel stays idle for a moment."""
    page.evaluate("window.__settled = 0")
    page.wait_for_function(_DONE, arg=before, polling=500, timeout=WAIT)


def restart_and_run_all(page):
    """Clear every output, then Kernel > Restart Kernel and Run All Cells; wait for the end."""
    menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(r"""() => [...document.querySelectorAll('%s .jp-CodeCell .jp-InputPrompt')]
        .every(p => !/\d/.test(p.textContent))""" % NOTEBOOK, polling=250)
    menu(page, "Kernel", "Restart Kernel and Run All Cells")
    page.locator(".jp-Dialog button", has_text="Restart").click()
    wait_settled(page)


def code_cells(page):
    """What each code cell of the open notebook shows."""
    return page.locator(f"{NOTEBOOK} .jp-CodeCell").evaluate_all("""cells => cells.map(c => {
      const out = c.querySelector('.jp-Cell-outputArea');
      const imgs = [...c.querySelectorAll('.jp-Cell-outputArea img')];
      return {
        prompt: c.querySelector('.jp-InputPrompt').textContent.trim(),
        source: c.querySelector('.jp-InputArea-editor').innerText,
        text: out ? out.innerText : '',
        html: out ? out.innerHTML : '',
        images: imgs.filter(i => i.complete && i.naturalWidth > 0).map(i => i.src),
        sliders: c.querySelectorAll('.jupyter-widgets .widget-slider .noUi-handle').length,
        errors: c.querySelectorAll('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]').length,
      };
    })""")


def executed(cell):
    return bool(re.fullmatch(r"\[\d+\]:", cell["prompt"]))
