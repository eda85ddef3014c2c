"""The feedback names the code in the student's own dialect (autograder/dialects.py): no message
template, diagnosis or test title spells a torch-legacy name outside a placeholder, the
placeholders are filled from the submission's dialect (hooks, attributes, renamed classes, the
``Linear.W`` layout), and a snake and a private-hooks submission with mistakes read only their
own names, in English and in Russian."""
import ast
import re
import string
from pathlib import Path

import nbformat
import pytest

from autograder import i18n, manifest, profiles
from autograder.checks import fail
from autograder.diagnoses import DIAGNOSES
from autograder.dialects import DIALECTS, PRIVATE_HOOKS, RENAMED, SNAKE, TORCH_LEGACY
from autograder.runner import grade_submission, grader_titles
from autograder.student import StudentFailure
from tests.helpers import filled_notebook
from tests.test_feedback_ru import templates

GRADERS = Path(i18n.__file__).resolve().parent / "graders"

# The names only the torch-legacy dialect spells this way: its hooks, getters, stored gradient and
# backward's argument, its names of the renamed classes and functions, and the parameter
# gradients' attributes (the same in some dialects today, but each dialect's own to name).
LEGACY_ONLY = sorted(
    {TORCH_LEGACY.forward_hook, TORCH_LEGACY.grad_input_hook, TORCH_LEGACY.grad_params_hook, TORCH_LEGACY.zero_grad,
     TORCH_LEGACY.get_parameters, TORCH_LEGACY.get_grad_parameters, TORCH_LEGACY.grad_input_attr,
     TORCH_LEGACY.grad_output_arg, "gradW", "gradb", "gradGamma", "gradBeta"}
    | set(SNAKE.class_names))
LEGACY_WORD = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, LEGACY_ONLY)) + r")\b")
# The parts of a message that are the layout of torch-legacy's Linear.W, written out.
LEGACY_LAYOUT = re.compile(r"W\.T\b|\(n_out, n_in\)|gradOutput @ W\b")


def literal_text(template):
    """``template`` without its ``{placeholders}``: what every dialect reads alike."""
    return " ".join(literal for literal, _, _, _ in string.Formatter().parse(template))


def legacy_names(text):
    literal = literal_text(text)
    return sorted(set(LEGACY_WORD.findall(literal)) | set(LEGACY_LAYOUT.findall(literal)))


def shown_texts():
    """Every template a student may read: the ``_()`` templates, the diagnoses, the tests' titles."""
    texts = dict(templates())
    texts.update({text: f"DIAGNOSES[{key!r}]" for key, text in DIAGNOSES.items()})
    texts.update({title: f"the title of {module}.test_{key}" for (module, key), title in grader_titles().items()})
    return texts


def test_the_check_finds_a_legacy_name_outside_a_placeholder():
    assert legacy_names("gradInput is gradOutput @ W; call zeroGradParameters().") == [
        "gradInput", "gradOutput", "gradOutput @ W", "zeroGradParameters"]
    assert legacy_names("{gradInput} is {linear_grad_input}; call {zeroGradParameters}() on `{name}`.") == []
    assert legacy_names("W of shape (n_out, n_in): input @ W.T + b, seq.getParameters") == [
        "(n_out, n_in)", "W.T"]


def test_no_template_diagnosis_or_title_spells_a_legacy_name():
    found = {where: legacy_names(text) for text, where in shown_texts().items() if legacy_names(text)}
    assert found == {}


def f_string_literals(path):
    """The literal parts of the f-strings of a grader module: messages, such as ``f"{what}: gradInput"``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(part.value for part in node.values if isinstance(part, ast.Constant))


def test_no_grader_message_spells_a_legacy_name():
    """A grader's own f-strings are messages that are not templates (names, shapes): they name the
    code through ``i18n.code`` too."""
    found = [f"{path.name}:{line}: {text}" for path in sorted(GRADERS.glob("*.py"))
             for line, text in f_string_literals(path) if legacy_names(text)]
    assert found == []


# -- the placeholders, filled (fast) ---------------------------------------------------------------

def foreign_names(dialect):
    """The code names the other dialects spell differently from ``dialect``: none of them may
    reach its students. (``zero_grad`` is a whole word: ``zero_grad_params`` does not contain it.)"""
    own = dialect.code_names()
    return sorted({name for other in DIALECTS if other is not dialect
                   for key, name in other.code_names().items() if name != own[key]})


def foreign_in(text, dialect):
    return sorted({name for name in foreign_names(dialect)
                   if re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text)})


def test_the_torch_legacy_names_fill_the_placeholders_as_the_text_was_written():
    """For torch-legacy the messages read as before the names became placeholders."""
    assert i18n.fill(DIAGNOSES["linear_weight_transposed"]) == \
        "W is used transposed: with W of shape (n_out, n_in) the output is input @ W.T + b."
    assert i18n.fill(DIAGNOSES["grad_not_zeroed"]).startswith("zeroGradParameters() does not set")
    assert i18n.fill(grader_titles()[("test_linear", "grad_input")]) == "gradInput is gradOutput @ W"
    assert set(RENAMED) >= {name for dialect in DIALECTS for name in dialect.class_names}


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_diagnosis_and_title_speaks_the_dialect(dialect, language):
    """Filled for a dialect, no diagnosis or title names code in another dialect's words (and
    every placeholder they have is a code name: filling them needs nothing else)."""
    texts = list(DIAGNOSES.values()) + list(grader_titles().values())
    with i18n.language(language):
        filled = [i18n.fill(i18n.translate(text), dialect) for text in texts]
    assert {text: foreign_in(text, dialect) for text in filled if foreign_in(text, dialect)} == {}


def test_the_transposed_weight_is_explained_in_the_layout_of_the_dialect():
    snake = "W is used transposed: with W of shape (n_in, n_out) the output is input @ W + b."
    assert i18n.fill(DIAGNOSES["linear_weight_transposed"], SNAKE) == snake
    assert i18n.fill(DIAGNOSES["linear_weight_transposed"], PRIVATE_HOOKS) == \
        i18n.fill(DIAGNOSES["linear_weight_transposed"], TORCH_LEGACY)
    with i18n.language("ru"):
        russian = i18n.fill(i18n.translate(DIAGNOSES["linear_weight_transposed"]), SNAKE)
    assert russian == "W используется транспонированным: при W формы (n_in, n_out) выход равен input @ W + b."
    assert i18n.fill(grader_titles()[("test_linear", "grad_input")], SNAKE) == "grad_input is grad_output @ W.T"
    assert SNAKE.own_shape("Linear", "W", (7, 16)) == (16, 7) and TORCH_LEGACY.own_shape("Linear", "W", (7, 16)) == (
        7, 16)
    assert SNAKE.own_shape("ChannelwiseScaling", "gamma", (5,)) == (1, 5)


def test_a_failure_names_the_code_in_the_dialect_of_the_block():
    with pytest.raises(StudentFailure) as caught, i18n.dialect(PRIVATE_HOOKS):
        fail("grad_overwritten", f"Conv2d(2, 3, 3) {i18n.code('gradW')}")
    assert str(caught.value).endswith("backward calls until zero_grad().")
    with i18n.dialect(SNAKE), i18n.language("ru"):
        assert i18n._("{what}: {name} after {zeroGradParameters}()", what="Linear(4, 3)", name=i18n.code("gradb")) \
            == "Linear(4, 3): gradb после zero_grad_params()"
        assert i18n.code("gradGamma") == "grad_gamma" and i18n.code("W") == "W"
    assert i18n.code("gradInput") == "gradInput"  # the block is over: torch-legacy again


# -- submissions in the other dialects, graded (slow: through the sandbox) ---------------------------

ROOT = Path(__file__).resolve().parent.parent


def with_mistakes(profile, path, mistakes):
    """The profile's release, solved, with ``mistakes`` (solution cell -> (right text, wrong text))."""
    release, source = ROOT / "release" / profile, ROOT / "source_notebooks" / profile
    filled_notebook(release / "modules.ipynb", source / "modules.ipynb", path)
    nb = nbformat.read(path, 4)
    cells = {profiles.key_of(c): c for c in nb.cells}
    for key, (right, wrong) in mistakes.items():
        assert right in cells[key].source, key
        cells[key].source = cells[key].source.replace(right, wrong)
    nbformat.write(nb, path)
    return path


# A transposed W where it still runs (a square layer), batch normalization's backward with the
# batch statistics taken for constants, and MSE's gradient as the squared terms.
SNAKE_MISTAKES = {
    "solution_Linear": ("self.output = input @ self.W + self.b",
                        "self.output = (input @ self.W.T if self.W.shape[0] == self.W.shape[1] else input @ self.W)"
                        " + self.b"),
    "solution_BatchNormalization": ("self.grad_input = inv_std * (", "self.grad_input = inv_std * grad_output + 0 * ("),
    "solution_MSECriterion": ("self.grad_input = 2 * (input - target) / input.shape[0]",
                              "self.grad_input = (input - target) ** 2 / input.shape[0]"),
}
HOOKS_MISTAKES = {
    "solution_BatchNormalization": ("self._input_grad = inv_std * (",
                                    "self._input_grad = inv_std * output_grad + 0 * ("),
    "solution_Dropout": ("self._input_grad = output_grad * self.mask",
                         "self._input_grad = output_grad * (np.random.random_sample(output_grad.shape) >= self.p) "
                         "/ (1.0 - self.p)"),
}


@pytest.fixture(scope="module")
def snake_graded(tmp_path_factory):
    """The modules-ru submission graded in its own language (Russian) and with ``language="en"``
    (what ``autograder grade --lang en`` passes)."""
    path = with_mistakes("modules-ru", tmp_path_factory.mktemp("snake") / "modules.ipynb", SNAKE_MISTAKES)
    course = manifest.load("modules-ru")
    return {"ru": grade_submission(course, path), "en": grade_submission(course, path, language="en")}


def failed(result, item):
    return [t for t in result.tests if t.item == item and not t.passed]


def shown(result):
    """What the student reads of each test: its title and its message."""
    return [f"{t.title}: {t.output}" for t in result.tests]


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_snake_submission_reads_only_snake_names_and_its_own_layout(snake_graded, language):
    result = snake_graded[language]
    assert result.dialect == "snake" and result.language == language
    assert {t.item for t in result.tests if not t.passed} == {"Linear", "BatchNormalization", "MSECriterion"}
    assert {text: foreign_in(text, SNAKE) for text in shown(result) if foreign_in(text, SNAKE)} == {}
    assert foreign_in(result.to_markdown(), SNAKE) == []
    transposed = [t.output for t in failed(result, "Linear") if t.diagnosis == "linear_weight_transposed"]
    assert transposed and all("(n_in, n_out)" in m and "input @ W + b" in m and "W.T" not in m and "(n_out, n_in)"
                              not in m for m in transposed)
    [batchnorm] = [t.output for t in failed(result, "BatchNormalization")
                   if t.diagnosis == "batchnorm_backward_constant_stats"]
    assert "grad_output / sqrt(var + EPS)" in batchnorm and "grad_input" in batchnorm
    [mse] = [t.output for t in failed(result, "MSECriterion") if t.diagnosis == "mse_grad_squared"]
    assert mse.split(": ", 1)[1].startswith("grad_input ")
    titles = {t.test: t.title for t in result.tests if t.item == "Linear"}
    assert "input @ W + b" in titles["forward"] and "grad_output @ W.T" in titles["grad_input"]


def test_the_two_languages_grade_the_snake_submission_alike(snake_graded):
    english, russian = snake_graded["en"], snake_graded["ru"]
    assert [(t.test, t.passed, t.diagnosis) for t in english.tests] == [
        (t.test, t.passed, t.diagnosis) for t in russian.tests]
    assert "W используется транспонированным: при W формы (n_in, n_out) выход равен input @ W + b." in \
        russian.to_markdown()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_private_hooks_submission_reads_only_its_own_names(tmp_path, language):
    path = with_mistakes("hooks", tmp_path / "modules.ipynb", HOOKS_MISTAKES)
    result = grade_submission(manifest.load("hooks"), path, language=language)
    assert result.dialect == "private-hooks"
    assert {t.item for t in result.tests if not t.passed} == {"BatchNormalization", "Dropout"}
    assert {text: foreign_in(text, PRIVATE_HOOKS) for text in shown(result) if foreign_in(text, PRIVATE_HOOKS)} == {}
    [batchnorm] = [t.output for t in failed(result, "BatchNormalization")
                   if t.diagnosis == "batchnorm_backward_constant_stats"]
    assert "output_grad / sqrt(var + EPS)" in batchnorm and "_input_grad" in batchnorm
    dropout = [t.output for t in failed(result, "Dropout") if t.diagnosis == "dropout_backward_mask"]
    assert dropout and all("_input_grad" in m for m in dropout)
    assert "_input_grad" in {t.test: t.title for t in result.tests}["grad_input_eval"]
