"""The language of the feedback a student reads.

Every message the graders and the feedback give is written in English in the code, as a
template with named placeholders: ``_("{what}: the result has the wrong shape.", what=...)``.
:func:`_` looks the template up in the catalogue of the current language
(``autograder/locale/<language>.toml``: key the English template exactly as in the code, value
its translation, with the same placeholders) and fills the placeholders in. Code names, shapes
and numbers are placeholders, never translated; numbers keep the format the template gives
them (``{x:.3g}``).

The current language is per process (grading runs in one process at a time, the batch's
grading processes each grade one submission): :func:`language` sets it around a grading,
``runner.grade_submission`` from the assignment's ``[profile] language`` or ``--lang``. A
template missing from a catalogue is shown in English (``tests/test_feedback_ru.py`` checks
that none is missing).

The names of the code are the student's own: a template writes a hook, getter, stored result or
renamed class as a placeholder spelled with its torch-legacy name (``{gradInput}``,
``{zeroGradParameters}()``, ``{ClassNLLCriterion}``), and ``Linear.W``'s layout as ``{linear_W_shape}``,
``{linear_forward}``, ``{linear_grad_input}``; :func:`fill` gives them the current dialect's names
(``Dialect.code_names``). The dialect is per process too: :func:`dialect` sets it around a
grader test (``autograder/graders/conftest.py``), from the submission's. A message that is not a
template (a name, a shape) names the code with :func:`code`. ``tests/test_feedback_dialects.py``
checks that no template, diagnosis or title spells a torch-legacy name outside a placeholder.
"""
import contextlib
import functools
import tomllib
from pathlib import Path

from .dialects import TORCH_LEGACY

SOURCE = "en"  # the language the templates are written in
LOCALE = Path(__file__).resolve().parent / "locale"
LANGUAGES = (SOURCE,) + tuple(sorted(p.stem for p in LOCALE.glob("*.toml")))

_current = [SOURCE]
_dialects = [TORCH_LEGACY]


class UnknownLanguage(ValueError):
    """A language with no catalogue."""


def check(code):
    """``code`` itself when it is a language the feedback can be given in, else :class:`UnknownLanguage`."""
    if code not in LANGUAGES:
        raise UnknownLanguage(f"no feedback language {code!r} (known: {', '.join(LANGUAGES)})")
    return code


@functools.cache
def catalogue(code):
    """English template -> template in ``code`` (empty for English)."""
    if code == SOURCE:
        return {}
    with open(LOCALE / f"{check(code)}.toml", "rb") as handle:
        return tomllib.load(handle)


def current():
    return _current[-1]


def set_language(code):
    """Make ``code`` the language of every message from now on (in this process)."""
    _current[-1] = check(code or SOURCE)


@contextlib.contextmanager
def language(code):
    """Messages in ``code`` (None: the current language) while the block runs."""
    _current.append(check(code or current()))
    try:
        yield
    finally:
        _current.pop()


@contextlib.contextmanager
def dialect(naming):
    """Code names in the dialect ``naming`` (None: torch-legacy) while the block runs."""
    _dialects.append(naming or TORCH_LEGACY)
    try:
        yield
    finally:
        _dialects.pop()


def code(canonical):
    """The current dialect's name for the code name ``canonical`` (a torch-legacy name, e.g.
    ``gradInput``); any other name as it is."""
    return _dialects[-1].code_names().get(canonical, canonical)


def fill(template, naming=None, **params):
    """``template`` (already in its language) with its placeholders filled: the code names from
    the dialect ``naming`` (by default the current one), the rest from ``params``."""
    if not params and "{" not in template:
        return template
    return template.format(**{**(naming or _dialects[-1]).code_names(), **params})


def translate(template):
    """``template`` in the current language (itself where the catalogue has no entry)."""
    return catalogue(current()).get(template, template)


def _(template, **params):
    """``template`` in the current language, its ``{name}`` placeholders filled from ``params`` and
    its code names from the current dialect (:func:`fill`)."""
    return fill(translate(template), **params)
