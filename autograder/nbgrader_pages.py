"""What nbgrader's HTML pages show: formgrader's view of a submission and the students' feedback.

Two changes to nbgrader's own pages, both set in ``nbgrader_config.py``:

- **Math without internet.** nbgrader's ``formgrade`` and ``feedback`` templates call nbconvert's
  ``mathjax()`` macro without an address, so they always load MathJax 2 from a CDN, whatever
  ``HTMLExporter.mathjax_url`` says. ``jupyter/nbconvert/templates/base/mathjax.html.j2`` replaces that
  macro (its folder comes first, see :func:`template_basedirs`): it writes MathJax 3 (the
  ``tex-svg-full`` component of the ``django-static-mathjax`` distribution, whose SVG output needs no
  font files) into the page itself, so the formulas render in a grading room without network
  and in a feedback file a student opens anywhere.
- **Ungraded answers are not zeros.** nbgrader's feedback shows a hand-graded answer that nobody
  has graded yet as "Score: 0.0 / 3.0". :class:`MarkUngradedAnswers` runs after ``GetGrades``:
  such an answer shows "Not graded yet" instead of a score, and the notebook's total counts only
  what has been graded.
- **A derivation that does not count says so.** Under the ``all_or_nothing`` scoring rule a
  derivation's points count only when its item's code passed every test (what ``autograder export``
  and the class report count). nbgrader's gradebook keeps the hand score and nbgrader's feedback
  would add it to the total; :class:`MarkUncountedDerivations` (before ``MarkUngradedAnswers``)
  shows such an answer as "Does not count", with the reason, and leaves its score out of the page's
  total. The gradebook's scores are not changed.

Both notes are in the assignment's feedback language (its manifest's, ``autograder/i18n.py``).
"""
import functools
import re
from importlib import resources
from pathlib import Path

from nbformat.v4 import new_markdown_cell
from nbgrader.preprocessors import NbGraderPreprocessor

from . import i18n, manifest, profiles
from .i18n import _
from .markdown import name as markdown_name
from .nbgrader_plugin import hand_graded

# A Jupyter data folder (for ``JUPYTER_PATH``) whose nbconvert templates hold our mathjax macro.
JUPYTER_DATA = Path(__file__).resolve().parent / "jupyter"
TEMPLATES = JUPYTER_DATA / "nbconvert" / "templates"
MATHJAX_COMPONENT = "static/mathjax/es5/tex-svg-full.js"


def nbgrader_templates():
    """nbgrader's own template folder (formgrade, feedback), which ours must precede, not replace."""
    from nbgrader.server_extensions.formgrader import handlers

    return str(Path(handlers.template_path).resolve())


def template_basedirs():
    """``HTMLExporter.extra_template_basedirs``: this project's templates, then nbgrader's.
    ``nbgrader generate_feedback`` finds our ``mathjax.html.j2`` through it; formgrader's server
    extension replaces this setting with nbgrader's folder alone, so ``autograder lab`` puts
    :data:`JUPYTER_DATA` on ``JUPYTER_PATH``, which nbconvert searches before its own templates."""
    return [str(TEMPLATES), nbgrader_templates()]


@functools.cache
def mathjax_script(_=None):
    """MathJax 3's ``tex-svg-full`` component, as text to put inside a ``<script>`` element (a Jinja
    filter: ``{{ "" | offline_mathjax }}``). A ``</script`` in it would end the element early; the
    component has none, and one would be written ``<\\/script`` (the same text in JavaScript)."""
    source = resources.files("mathjax").joinpath(MATHJAX_COMPONENT).read_text(encoding="utf-8")
    return re.sub(r"</(script)", r"<\\/\1", source, flags=re.IGNORECASE)


# -- ungraded answers ---------------------------------------------------------------------------------

def not_graded_yet(grade):
    """No score was given, by hand or by the autograder: nbgrader would show it as 0."""
    return grade.manual_score is None and grade.auto_score is None


def pending_note(pending, graded_points, total_points):
    """The Markdown at the top of the feedback when some answers are not graded yet."""
    names = ", ".join(markdown_name(grade_id) for grade_id, _points in pending)
    points = sum(p for _grade, p in pending)
    return _("**Not graded yet:** {names} ({points}). The score above counts what has been graded so far: "
             "{graded:g} of the {total:g} points. These answers will be graded by hand.",
             names=names, points=points_text(points), graded=graded_points, total=total_points)


class MarkUngradedAnswers(NbGraderPreprocessor):
    """For ``nbgrader generate_feedback``, after ``GetGrades``: each hand-graded answer that has
    no score yet is shown as "Not graded yet" (a comment in its panel) instead of nbgrader's
    "Score: 0.0 / N"; the notebook's maximum leaves its points out, and a note at the top says
    which answers are still to be graded."""

    def preprocess(self, nb, resources):
        with i18n.language(feedback_language(resources["nbgrader"]["assignment"])):
            return self._preprocess(nb, resources)

    def _preprocess(self, nb, resources):
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        pending = []
        with Gradebook(info["db_url"]) as gradebook:
            for cell in nb.cells:
                if not hand_graded(cell):
                    continue
                meta = cell.metadata.nbgrader
                grade = gradebook.find_grade(meta["grade_id"], info["notebook"], info["assignment"], info["student"])
                if not_graded_yet(grade):
                    pending.append((meta["grade_id"], float(grade.max_score)))
                    self.mark(cell, float(grade.max_score))
        if pending:
            total = float(info["max_score"])
            info["max_score"] = total - sum(points for _, points in pending)
            nb.cells.insert(0, new_markdown_cell(pending_note(pending, info["max_score"], total)))
        return nb, resources

    @staticmethod
    def mark(cell, points):
        """The answer stays in its panel, with "Not graded yet" where its score would be."""
        meta = cell.metadata.nbgrader
        meta["grade"] = False
        meta["task"] = False
        meta["solution"] = True  # nbgrader's "Student's answer" panel, with the comment below it
        note = _("**Not graded yet** ({points}): your instructor has not graded this answer yet.",
                 points=points_text(points))
        meta["comment"] = note + (f"\n\n{meta['comment']}" if meta.get("comment") else "")
        meta.pop("score", None)


# -- derivations the scoring rule does not count ------------------------------------------------------

def feedback_language(assignment_name):
    """The language of an assignment's feedback pages: its manifest's (a profile's), else English."""
    try:
        return manifest.load(assignment_name).language
    except (manifest.ManifestError, FileNotFoundError):
        return i18n.SOURCE


def item_name(assignment_name, item):
    """An item's name as its course's students know it (the snake course's ``NLLCriterion``)."""
    return profiles.load(assignment_name).dialect.name_of(item) if assignment_name in profiles.names() else item


def points_text(points):
    """"3 points", "0,5 балла": the points words of the feedback's language, without the bracket."""
    return profiles.points_words(points, i18n.current()).lstrip("(")


def item_code_grade(gradebook, assignment, item, student):
    """The gradebook's grade of ``item``'s code (its autograded grade cell), in whichever notebook
    of the submission holds it; None if it has none."""
    grade_id = assignment.items[item].grade_id
    submission = gradebook.find_submission(assignment.name, student)
    return next((grade for notebook in submission.notebooks for grade in notebook.grades
                 if grade.name == grade_id), None)


def why_not_counted(gradebook, assignment, item, student):
    """Why ``item``'s derivation does not count (``failed`` or ``missing``), or None when it does:
    its code has full points in the gradebook. The rule of :func:`autograder.export.count_whole_items`."""
    grade = item_code_grade(gradebook, assignment, item, student)
    if grade is None or grade.score is None:
        return "missing"
    return None if grade.score >= grade.max_score else "failed"


class MarkUncountedDerivations(NbGraderPreprocessor):
    """For ``nbgrader generate_feedback``, after ``GetGrades``, under the ``all_or_nothing`` rule:
    each derivation whose item's code did not pass every test is shown as "Does not count" (its
    hand score and the reason in its panel, no score line), the page's total leaves its hand score
    out, and a note at the top names them. Other rules, and counted derivations, are left as
    nbgrader shows them; the gradebook is only read."""

    def preprocess(self, nb, resources):

        info = resources["nbgrader"]
        try:
            assignment = manifest.load(info["assignment"])
        except (manifest.ManifestError, FileNotFoundError):
            return nb, resources
        if not assignment.all_or_nothing:
            return nb, resources
        with i18n.language(assignment.language):
            return self._preprocess(nb, resources, assignment)

    def _preprocess(self, nb, resources, assignment):
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        uncounted = []
        with Gradebook(info["db_url"]) as gradebook:
            for cell in nb.cells:
                item = assignment.derivations.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
                if item is None or not hand_graded(cell):
                    continue
                why = why_not_counted(gradebook, assignment, item, info["student"])
                if why is None:
                    continue
                meta = cell.metadata.nbgrader
                grade = gradebook.find_grade(meta["grade_id"], info["notebook"], info["assignment"], info["student"])
                uncounted.append((meta["grade_id"], float(grade.max_score), grade.manual_score))
                self.mark(cell, item_name(assignment.name, item), why, grade)
        if uncounted:
            info["score"] = float(info["score"]) - sum(score or 0.0 for _, _, score in uncounted)
            nb.cells.insert(0, new_markdown_cell(self.note(uncounted)))
        return nb, resources

    @staticmethod
    def mark(cell, item, why, grade):
        """The answer stays in its panel; where its score would be, that it does not count and why."""
        meta = cell.metadata.nbgrader
        meta["grade"] = False
        meta["task"] = False
        meta["solution"] = True  # nbgrader's "Student's answer" panel, with the comment below it
        graded = (_("graded {score:g} of {max:g} points by hand", score=grade.manual_score, max=grade.max_score)
                  if grade.manual_score is not None else _("not graded"))
        reason = _("did not pass every test") if why == "failed" else _("has no score yet")
        note = _("**Does not count** ({points}): {graded}. This course counts an item's points, its derivation's "
                 "included, only when its code passes every test, and the code of {item} {why}.",
                 points=points_text(float(grade.max_score)), graded=graded, item=markdown_name(item), why=reason)
        meta["comment"] = note + (f"\n\n{meta['comment']}" if meta.get("comment") else "")
        meta.pop("score", None)

    @staticmethod
    def note(uncounted):
        names = ", ".join(markdown_name(grade_id) for grade_id, _points, _score in uncounted)
        hand = sum(score or 0.0 for _grade, _points, score in uncounted)
        return _("**Not counted:** {names} ({points} given by hand). The score above leaves them out: under this "
                 "course's rule a derivation counts only when its item's code passes every test.",
                 names=names, points=points_text(hand))
