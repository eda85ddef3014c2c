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
"""
import functools
import re
from importlib import resources
from pathlib import Path

from nbformat.v4 import new_markdown_cell
from nbgrader.preprocessors import NbGraderPreprocessor

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
    names = ", ".join(markdown_name(grade_id) for grade_id, _ in pending)
    points = sum(p for _, p in pending)
    return (f"**Not graded yet:** {len(pending)} answer{'s' if len(pending) != 1 else ''} worth {points:g} points "
            f"({names}). The score above counts what has been graded so far: {graded_points:g} of the "
            f"{total_points:g} points. These answers will be graded by hand.")


class MarkUngradedAnswers(NbGraderPreprocessor):
    """For ``nbgrader generate_feedback``, after ``GetGrades``: each hand-graded answer that has
    no score yet is shown as "Not graded yet" (a comment in its panel) instead of nbgrader's
    "Score: 0.0 / N"; the notebook's maximum leaves its points out, and a note at the top says
    which answers are still to be graded."""

    def preprocess(self, nb, resources):
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
        note = f"**Not graded yet** ({points:g} points): your instructor has not graded this answer yet."
        meta["comment"] = note + (f"\n\n{meta['comment']}" if meta.get("comment") else "")
        meta.pop("score", None)
