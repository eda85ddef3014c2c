"""``autograder lab [COURSE_ROOT]``: JupyterLab on an nbgrader course, ready for hand grading.

Formgrader (Nbgrader > Formgrader in JupyterLab) grades the course whose root nbgrader was
given, and creates ``gradebook.db`` there if there is none: started from the wrong folder it
silently opens an empty gradebook. It also runs helper commands by name (``alembic``), so it
needs this project's environment on ``PATH``, and it must load this project's
``nbgrader_config.py`` so that its Autograde and Generate Feedback buttons grade in the sandbox,
write offline math and keep ungraded answers apart from 0. This module starts JupyterLab
with all of that set, and refuses a folder that is not a course.
"""
import os
import sys
from pathlib import Path

from .release import ROOT, nbgrader_environment

# What makes a folder an nbgrader course root: nbgrader's own layout.
COURSE_MARKERS = ("gradebook.db", "source_notebooks", "submitted", "autograded")


class NotACourse(ValueError):
    """The folder given is not an nbgrader course root."""


def course_root(folder):
    """``folder`` resolved, if it is a course root (it holds a gradebook or nbgrader's folders)."""
    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        raise NotACourse(f"{folder} is not a folder")
    if not any((path / marker).exists() for marker in COURSE_MARKERS):
        raise NotACourse(f"{folder} is not an nbgrader course folder (it has none of {', '.join(COURSE_MARKERS)}); "
                         "give the course root, e.g. `autograder lab demo-output/course`")
    return path


def command(course, jupyter_args=()):
    """The JupyterLab command line for ``course``: the server's root and nbgrader's course root
    are both the course, so that formgrader finds its gradebook and its notebooks' links work."""
    return [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={course}",
            f"--CourseDirectory.root={course}", *jupyter_args]


def environment():
    """This environment's commands first on PATH (nbgrader runs ``alembic`` by name), and this
    project's Jupyter data folder first on JUPYTER_PATH: formgrader's pages then take our
    offline MathJax macro (``autograder.nbgrader_pages``) instead of nbconvert's CDN one."""
    from .nbgrader_pages import JUPYTER_DATA

    env = nbgrader_environment()
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(JUPYTER_DATA), env.get("JUPYTER_PATH")]))
    return env


def start(folder, jupyter_args=()):
    """Replace this process with JupyterLab on the course ``folder``. It runs from the project's
    folder, so that nbgrader loads the project's ``nbgrader_config.py`` (a ``nbgrader_config.py``
    in the course root, when there is one, is loaded after it and wins)."""
    course = course_root(folder)
    os.chdir(ROOT)
    argv = command(course, jupyter_args)
    os.execve(argv[0], argv, environment())
