"""JupyterHub for a class on one machine, with nbgrader's multi-user setup.

    jupyterhub -f deploy/jupyterhub_config.py        (from the repository, in its venv)

- Students sign in and get their own JupyterLab, in their own home folder, with
  nbgrader's Assignments panel on one shared exchange.
- Instructors also reach the course's Formgrader: a hub service named after the
  course (`/services/dltrack/`), a JupyterLab started by the hub in the course
  folder, with the Formgrader, the gradebook and nbgrader's command line.
- Sign-in is a user list with a password each, good for trying the hub and for
  the tests; README, "A class on a server", says what to use with an LMS.

Every setting that changes between a trial and the tests comes from the environment:
    DLTRACK_HUB_STATE        state folder: database, cookie secret, passwords, homes, exchange (.hub/)
    DLTRACK_HUB_COURSE       the instructor's course folder (this repository)
    DLTRACK_HUB_URL          where the hub listens (http://127.0.0.1:8000)
    DLTRACK_HUB_INSTRUCTORS  user names, separated by spaces (instructor)
    DLTRACK_HUB_STUDENTS     user names, separated by spaces (student1 student2)
"""
import hmac
import os
import secrets
import shutil
import socket
import sys
from pathlib import Path

from jupyterhub.auth import Authenticator
from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import Dict

from dltrack.sandbox import system_binds

COURSE_ID = "dltrack"
DEPLOY = Path(__file__).resolve().parent
COURSE = Path(os.environ.get("DLTRACK_HUB_COURSE", DEPLOY.parent)).resolve()
STATE = Path(os.environ.get("DLTRACK_HUB_STATE", DEPLOY.parent / ".hub")).resolve()
EXCHANGE = STATE / "exchange"
BIN = Path(sys.executable).parent
INSTRUCTORS = os.environ.get("DLTRACK_HUB_INSTRUCTORS", "instructor").split()
STUDENTS = os.environ.get("DLTRACK_HUB_STUDENTS", "student1 student2").split()

c = get_config()  # noqa: F821 - provided by traitlets


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the state folder and the exchange

STATE.mkdir(parents=True, exist_ok=True)
os.chmod(STATE, 0o711)  # homes are reached by path only
(STATE / "homes").mkdir(exist_ok=True)
(STATE / "formgrader-home").mkdir(exist_ok=True)
# nbgrader's exchange: everyone may write the root; `nbgrader release_assignment` makes the
# course's outbound (755), inbound (733: students write, only the instructor lists) and feedback (711).
EXCHANGE.mkdir(exist_ok=True)
os.chmod(EXCHANGE, 0o777)

c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")

# The public address, and loopback ports picked free for the hub's API and the proxy's.
c.JupyterHub.bind_url = os.environ.get("DLTRACK_HUB_URL", "http://127.0.0.1:8000")
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{free_port()}"


# ---------------------------------------------------------------- who signs in

class ClassListAuthenticator(Authenticator):
    """The users of `passwords` (name -> password), each with their own password.

    For trying the hub and for the tests; a class signs in through its LMS or an
    identity provider instead (README, "A class on a server").
    """

    passwords = Dict(config=True, help="user name -> password")

    async def authenticate(self, handler, data):
        expected = self.passwords.get(data["username"])
        if expected and hmac.compare_digest(expected.encode(), data["password"].encode()):
            return data["username"]
        return None


def passwords(path, users):
    """`name password` lines of `path`; a user missing from it gets a random password, written there."""
    known = dict(line.split(None, 1) for line in path.read_text().splitlines() if line.strip()) \
        if path.exists() else {}
    missing = [u for u in users if u not in known]
    if missing:
        known.update({u: secrets.token_urlsafe(12) for u in missing})
        path.touch(mode=0o600)
        path.write_text("".join(f"{u} {p}\n" for u, p in known.items()))
        print(f"passwords of {', '.join(missing)} written to {path}", file=sys.stderr)
    return {u: known[u].strip() for u in users}


c.JupyterHub.authenticator_class = ClassListAuthenticator
c.ClassListAuthenticator.passwords = passwords(STATE / "passwords", INSTRUCTORS + STUDENTS)
c.Authenticator.allowed_users = set(INSTRUCTORS + STUDENTS)


# ---------------------------------------------------------------- a JupyterLab for each user

def exchange_folders():
    """The course's folders in the exchange, made as `nbgrader release_assignment` makes them."""
    course = EXCHANGE / COURSE_ID
    course.mkdir(mode=0o755, exist_ok=True)
    for name, mode in (("outbound", 0o755), ("inbound", 0o733), ("feedback", 0o711)):
        (course / name).mkdir(exist_ok=True)
        os.chmod(course / name, mode)
    return course


def python_paths():
    """The folders the server imports from: the venv, its base Python, the course package (not the course)."""
    import dltrack
    found = []
    for path in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                 os.path.dirname(dltrack.__file__)):
        path = Path(path).resolve()
        if not any(path.is_relative_to(f) for f in found):
            found = [f for f in found if not f.is_relative_to(path)] + [path]
    return [str(f) for f in found]


def sandbox(home):
    """bubblewrap around a user's server: it sees the system and Python read-only, its own home,
    the exchange (the course's part read-only but for `inbound`, where submissions go) and
    nothing else of this machine: not the course folder, the hub's state (passwords,
    database) or other homes."""
    course = exchange_folders()
    args = ["bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    args += system_binds()
    for path in (*python_paths(), str(DEPLOY / "student")):
        args += ["--ro-bind", path, path]
    # nbgrader wants the exchange's root writable; the course's folders are mount points there,
    # so they cannot be renamed or removed, and only `inbound` is writable.
    args += ["--bind", str(EXCHANGE), str(EXCHANGE), "--ro-bind", str(course), str(course),
             "--bind", str(course / "inbound"), str(course / "inbound")]
    return args + ["--bind", home, home, "--chdir", home, "--"]


class HomeSpawner(SimpleLocalProcessSpawner):
    """Each user's server in their own home folder under the state folder, no Unix account needed.

    The servers run as the Unix user who runs the hub, each in a bubblewrap sandbox
    (Debian's `bubblewrap`) that shows it only its own home of the users' files.
    Without bubblewrap the servers run unconfined, and any user's code reaches every
    file of the hub's Unix user. A class runs with DockerSpawner or KubeSpawner (README).
    """

    def user_env(self, env):
        env = super().user_env(env)
        env["JUPYTER_CONFIG_PATH"] = str(DEPLOY / "student")  # nbgrader as a student: deploy/student/
        env["DLTRACK_EXCHANGE"] = str(EXCHANGE)
        return env

    async def start(self):
        os.makedirs(self.home_dir, 0o700, exist_ok=True)
        singleuser = [str(BIN / "jupyterhub-singleuser")]
        if shutil.which("bwrap"):
            self.cmd = sandbox(self.home_dir) + singleuser
        else:
            self.log.warning("bubblewrap is not installed: %s's server runs unconfined", self.user.name)
            self.cmd = singleuser
        return await super().start()


ROOT_ARGS = ["--allow-root"] if os.geteuid() == 0 else []  # CI runs as root in a container

c.JupyterHub.spawner_class = HomeSpawner
c.HomeSpawner.home_dir_template = str(STATE / "homes" / "{username}")
c.Spawner.args = ROOT_ARGS
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 180  # importing nbgrader takes seconds on a busy machine
c.Spawner.http_timeout = 180


# ---------------------------------------------------------------- the instructors' Formgrader

c.JupyterHub.services = [{
    "name": COURSE_ID,
    "url": f"http://127.0.0.1:{free_port()}",
    "command": [str(BIN / "jupyterhub-singleuser"), *ROOT_ARGS],
    "cwd": str(COURSE),
    "environment": {
        "HOME": str(STATE / "formgrader-home"),
        "JUPYTERHUB_DEFAULT_URL": "/lab",
        "DLTRACK_EXCHANGE": str(EXCHANGE),  # nbgrader_config.py of the course reads it
    },
    "oauth_no_confirm": True,
}]
c.JupyterHub.load_groups = {"instructors": {"users": INSTRUCTORS}}
c.JupyterHub.load_roles = [{
    "name": "formgrader",
    "description": f"use the Formgrader of {COURSE_ID}",
    "groups": ["instructors"],
    "scopes": [f"access:services!service={COURSE_ID}", "list:services", f"read:services!service={COURSE_ID}"],
}]
