"""What the browser tests share: JupyterLab on a folder, and Chromium driven by Playwright.

Playwright's own browser download does not work everywhere this project runs, so the tests drive
the system's Chromium (Debian's ``chromium`` package, which ``.ci/run`` installs) by its path;
where Chromium or the ``playwright`` package is missing, a browser test is skipped with the reason.

``tests/conftest.py`` makes the fixtures available to every test module::

    def test_something(jupyterlab, page, shot, tmp_path):
        lab = jupyterlab(tmp_path / "course")        # JupyterLab serving that folder
        page.goto(lab.url("lab/tree/modules.ipynb"))   # the address with the token
        shot("notebook-open")                        # <pytest tmp folder>/screenshots/01-notebook-open.png

- ``jupyterlab(root, command=None, cwd=None)`` starts JupyterLab on ``root`` from this environment,
  with a token and a free port, waits until it answers, and stops it and its kernels when the test
  ends. ``command`` replaces ``python -m jupyterlab --ServerApp.root_dir=ROOT`` by another
  launcher that passes JupyterLab's options on (``autograder lab COURSE``); it returns a
  :class:`Lab`.
- ``page``: a Chromium page (1400x1000). Every request that would leave this machine (a CDN, a
  font service) is aborted and its address recorded in ``page.outside_requests``, so a test can
  prove that a page renders offline.
- ``shot(name)`` saves a screenshot of the page as ``NN-name.png`` under the test's temporary
  folder (``screenshots/``) and returns its path.

JupyterLab runs with its own configuration, data-free settings and runtime folders (under the
test's temporary folder), so nothing from the user's Jupyter setup leaks in and no news or update
notification covers the page.
"""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
START_TIMEOUT = 180  # seconds for JupyterLab to answer on a loaded machine
VIEWPORT = {"width": 1400, "height": 1000}


def chromium_path():
    """The system's Chromium: ``$CHROMIUM`` if set, else the first of the usual names on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: its root folder, base address and token."""
    root: Path
    base: str  # http://127.0.0.1:PORT/
    token: str
    process: subprocess.Popen
    log: Path

    def url(self, path=""):
        """The address of ``path`` (e.g. ``lab/tree/x.ipynb`` or ``formgrader``) with the token."""
        separator = "&" if "?" in path else "?"
        return f"{self.base}{path}{separator}token={self.token}"

    def api(self, path, method="GET"):
        """A call to the Jupyter server's REST API; returns the decoded JSON, or None."""
        request = urllib.request.Request(f"{self.base}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None


def lab_environment(scratch):
    """This environment's commands first on PATH (nbgrader runs ``alembic`` by name), and Jupyter's
    configuration, settings and runtime folders private to the test."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for variable in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR",
                     "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR"):
        folder = scratch / variable.lower()
        folder.mkdir(parents=True, exist_ok=True)
        env[variable] = str(folder)
    quiet = Path(env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab" / "apputils-extension"
    quiet.mkdir(parents=True, exist_ok=True)
    (quiet / "notification.jupyterlab-settings").write_text(
        json.dumps({"checkForUpdates": False, "fetchNews": "false"}))
    return env


def wait_until_answering(lab, timeout=START_TIMEOUT):
    """Poll the server's status until it answers; fail with the end of its log if it dies or is slow."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {lab.process.returncode}:\n{lab.log.read_text()[-3000:]}")
        try:
            lab.api("api/status")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {timeout} s:\n{lab.log.read_text()[-3000:]}")


def stop(lab):
    """Shut the kernels down through the API, then the server (SIGINT twice is Jupyter's own
    no-questions shutdown), killing its process group if it does not exit."""
    try:
        for kernel in lab.api("api/kernels") or []:
            lab.api(f"api/kernels/{kernel['id']}", method="DELETE")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        pass
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        if lab.process.poll() is not None:
            return
        try:
            os.killpg(lab.process.pid, sig)
        except ProcessLookupError:
            return
        try:
            lab.process.wait(wait)
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def jupyterlab(tmp_path):
    """``jupyterlab(root, command=None, cwd=None) -> Lab``: JupyterLab serving ``root`` until the test ends."""
    labs = []

    def start(root, command=None, cwd=None):
        scratch = tmp_path / f"jupyter-{len(labs)}"
        env = lab_environment(scratch)
        port, token = free_port(), secrets.token_hex(16)
        command = command or [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}"]
        argv = [*map(str, command), "--no-browser", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", "--ServerApp.allow_root=True"]
        log = scratch / "jupyterlab.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(argv, cwd=cwd or root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        lab = Lab(Path(root), f"http://127.0.0.1:{port}/", token, process, log)
        labs.append(lab)
        wait_until_answering(lab)
        return lab

    yield start
    for lab in labs:
        stop(lab)


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session, the system's (skipped with the reason if missing)."""
    executable = chromium_path()
    if not executable:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


def is_local(address):
    parts = urlsplit(address)
    return parts.scheme in {"data", "blob", "about", "file"} or parts.hostname in LOCAL_HOSTS


@pytest.fixture
def page(chromium):
    """A fresh page; requests that would leave the machine are aborted and listed in
    ``page.outside_requests``."""
    context = chromium.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.outside_requests = []

    def only_local(route):
        if is_local(route.request.url):
            route.continue_()
        else:
            page.outside_requests.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    yield page
    context.close()


@pytest.fixture
def shot(page, tmp_path):
    """``shot(name, target=page) -> Path``: a PNG of the page (or of another page) in ``screenshots/``."""
    folder = tmp_path / "screenshots"
    taken = []

    def take(name, target=None):
        folder.mkdir(exist_ok=True)
        path = folder / f"{len(taken) + 1:02d}-{name}.png"
        (target or page).screenshot(path=path, full_page=False)
        taken.append(path)
        return path

    return take
