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
"""
import contextlib
import functools
import tomllib
from pathlib import Path

SOURCE = "en"  # the language the templates are written in
LOCALE = Path(__file__).resolve().parent / "locale"
LANGUAGES = (SOURCE,) + tuple(sorted(p.stem for p in LOCALE.glob("*.toml")))

_current = [SOURCE]


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


def translate(template):
    """``template`` in the current language (itself where the catalogue has no entry)."""
    return catalogue(current()).get(template, template)


def _(template, **params):
    """``template`` in the current language, its ``{name}`` placeholders filled from ``params``."""
    text = translate(template)
    return text.format(**params) if params else text
