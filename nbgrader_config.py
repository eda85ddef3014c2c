"""nbgrader's configuration for this course (run nbgrader from this folder).

Student code is never run in a Jupyter kernel during autograding: the sandboxed grading
step replaces nbgrader's Execute preprocessor.

A submitted notebook that cannot be graded (nbgrader metadata of another schema version, a
copied grade cell, a file that is not a notebook, ...) costs only its own student: it is
refused with the reason in the log, recorded in the gradebook with 0 autograded points and
flagged, and autograde goes on with the next student (see autograder/nbgrader_submissions.py).
"""
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from autograder.nbgrader_pages import MarkUncountedDerivations, MarkUngradedAnswers, template_basedirs
from autograder.nbgrader_plugin import SandboxedGrading
from autograder.nbgrader_submissions import CheckSubmittedMetadata, SubmissionExporter

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.CourseDirectory.source_directory = "source_notebooks"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

c.Autograde.exporter_class = SubmissionExporter
c.Autograde.sanitize_preprocessors = [
    CheckSubmittedMetadata,
    ClearOutput,
    DeduplicateIds,
    OverwriteKernelspec,
    OverwriteCells,
    CheckCellMetadata,
]
# A grade cell the student deleted is put back from the gradebook and graded like any other:
# it holds none of the student's work, and a grade cell left out would keep an earlier run's points.
c.OverwriteCells.add_missing_cells = True

c.Autograde.autograde_preprocessors = [
    SandboxedGrading,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]

# nbgrader's HTML pages (formgrader's view of a submission, the students' feedback): MathJax
# written into the page instead of loaded from a CDN, and hand-graded answers that are not
# graded yet shown as such instead of as 0, and under the all_or_nothing rule a derivation whose
# item's code failed shown as not counted (see autograder/nbgrader_pages.py).
c.HTMLExporter.extra_template_basedirs = template_basedirs()
c.HTMLExporter.filters = {"offline_mathjax": "autograder.nbgrader_pages.mathjax_script"}
c.GenerateFeedback.preprocessors = [GetGrades, MarkUncountedDerivations, MarkUngradedAnswers,
                                    CSSHTMLHeaderPreprocessor]
