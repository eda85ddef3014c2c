"""The autograder's own feedback in Russian (autograder/i18n.py, autograder/locale/ru.toml): every
template the code gives a student has a Russian entry with the same placeholders and no entry is
left unused; the Russian has no English prose; a snake-dialect submission of the modules-ru
course with mistakes in it is graded with Russian feedback under its 20-point scheme, and with
English feedback under ``--lang en``."""
import ast
import json
import re
import shutil
import string
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import analyser, checks, i18n, manifest, profiles, results
from autograder.diagnoses import DIAGNOSES
from autograder.runner import TestOutcome, grade_submission, grader_titles
from autograder.sandbox import reader
from autograder.student import StudentFailure
from tests.helpers import filled_notebook
from tests.test_checks import X, failure
from tests.test_profile_modules_ru import COURSE_NAMES, LATIN_ALLOWED, LATIN_WORD, RELEASE, SOURCE, prose

PACKAGE = Path(i18n.__file__).resolve().parent
RU = i18n.catalogue("ru")


# -- what the code says, and the catalogue --------------------------------------------------------

def is_translation_call(node):
    """``_("...")`` or ``i18n._("...")``."""
    if not isinstance(node, ast.Call):
        return False
    function = node.func
    return (isinstance(function, ast.Name) and function.id == "_") or (
        isinstance(function, ast.Attribute) and function.attr == "_" and isinstance(function.value, ast.Name)
        and function.value.id == "i18n")


def translation_calls():
    """Every ``_()`` call of the package: ``(file:line, node)``."""
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if is_translation_call(node):
                yield f"{path.relative_to(PACKAGE)}:{node.lineno}", node


def templates():
    """The English templates of the code: ``{template: where}``."""
    found = {}
    for where, node in translation_calls():
        assert node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str), \
            f"{where}: _() needs its English template as a literal"
        found.setdefault(node.args[0].value, where)
    return found


def shown_texts():
    """Everything the catalogue must translate: the templates, the diagnoses, the tests' titles, the
    reader's reasons."""
    texts = dict(templates())
    texts.update({text: f"DIAGNOSES[{key!r}]" for key, text in DIAGNOSES.items()})
    texts.update({title: f"the title of {module}.test_{key}" for (module, key), title in grader_titles().items()})
    texts.update({template: "reader.TEMPLATES" for template in reader.TEMPLATES})  # the worker's reasons
    return texts


def placeholders(template):
    return sorted({field for _, field, _, _ in string.Formatter().parse(template) if field is not None})


def test_every_template_has_a_russian_entry_with_the_same_placeholders():
    texts = shown_texts()
    missing = {where: text for text, where in texts.items() if text not in RU}
    assert missing == {}
    different = {text: (placeholders(text), placeholders(RU[text])) for text in texts
                 if placeholders(text) != placeholders(RU[text])}
    assert different == {}


def test_no_catalogue_entry_is_unused():
    assert sorted(set(RU) - set(shown_texts())) == []


def test_the_catalogue_covers_the_diagnoses_and_titles():
    assert len(DIAGNOSES) > 100 and all(text in RU for text in DIAGNOSES.values())
    assert all(title in RU for title in grader_titles().values())


def test_templates_are_translated_when_used_not_when_imported():
    """A ``_()`` outside a function runs once, at import, in whatever language is current then;
    and a function that binds ``_`` itself (``x, _ = ...``) cannot call the translation."""
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        inside = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.Lambda)) for n in ast.walk(f)}
        problems += [f"{path.name}:{n.lineno} at import" for n in ast.walk(tree)
                     if is_translation_call(n) and id(n) not in inside]
        for function in (f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)):
            own = [n for n in own_scope(function)]
            binds = any(isinstance(n, ast.Name) and n.id == "_" and isinstance(n.ctx, ast.Store) for n in own)
            if binds and any(is_translation_call(n) for n in ast.walk(function)):
                problems.append(f"{path.name}:{function.lineno} {function.name} binds _")
    assert problems == []


def own_scope(function):
    """The nodes of ``function``'s own scope (not of the functions and comprehensions inside it)."""
    pending = list(ast.iter_child_nodes(function))
    while pending:
        node = pending.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                                 ast.GeneratorExp, ast.ClassDef)):
            pending.extend(ast.iter_child_nodes(node))


# -- no English prose -----------------------------------------------------------------------------

# Words a Russian message keeps in Latin letters: the names of the code (methods, arguments, the
# variables of formulas, NumPy's functions) and a few terms.
FEEDBACK_ALLOWED = LATIN_ALLOWED | COURSE_NAMES | {
    "forward", "backward", "train", "evaluate", "exp", "log", "sum", "sqrt", "sigmoid", "mean", "var", "axis",
    "keepdims", "True", "False", "None", "NaN", "self", "return", "input", "output", "target", "grad", "state",
    "alpha", "slope", "beta", "eps", "epsilon", "momentum", "learning", "rate", "max", "min", "fill", "where",
    "minimum", "logaddexp", "expit", "ddof", "signal", "scipy", "exit", "ipynb", "PDF", "Clear", "Output",
    "broadcast", "underflow", "bubblewrap", "segmentation", "fault", "variables", "modules", "seq", "model",
    "sys", "hat", "training", "inf", "nan", "moving", "gradb",
}
CODE_TOKEN = re.compile(r"\S*[._()\[\]=/*@<>{}]\S*")


def english_words(text):
    """The English prose words of a message: what is left of ``text`` without its code (fenced,
    inline, tokens with code characters), formulas and the names a Russian message keeps."""
    text = CODE_TOKEN.sub(" ", prose(text))
    return sorted({w for w in LATIN_WORD.findall(text) if w not in FEEDBACK_ALLOWED
                   and not any(ch.isupper() for ch in w[1:])})


def test_the_english_words_check_can_fail():
    assert english_words("Linear.forward: the gradient has the wrong shape `(3, 4)`.") == [
        "gradient", "has", "shape", "the", "wrong"]
    assert english_words("Linear.forward: у градиента неверная форма `(3, 4)`, см. sum(x, axis=1).") == []


def test_the_russian_catalogue_has_no_english_prose():
    found = {key: english_words(value) for key, value in RU.items() if english_words(value)}
    assert found == {}


# -- the comparisons, in Russian (fast: no sandbox) --------------------------------------------------

def test_a_failure_speaks_the_current_language_and_keeps_its_diagnosis():
    with i18n.language("ru"):
        error = failure(checks.fail, "grad_overwritten", "Linear(4, 3) gradW", "После двух вызовов.")
        shape = failure(checks.expect_close, X[:2], X, "SoftMax: выход")
        factor = failure(checks.expect_close, 5 * X, X, "Linear(4, 3): выход", context=analyser.context_for(X[:, :1]))
    assert error.diagnosis == "grad_overwritten"
    assert str(error) == f"Linear(4, 3) gradW: {i18n.fill(RU[DIAGNOSES['grad_overwritten']])} После двух вызовов."
    assert shape.diagnosis == "wrong_shape" and str(shape).endswith("Ожидалась форма (3, 4), получена (2, 4).")
    assert factor.diagnosis == "factor" and "умноженному на" in str(factor) and "Наибольшее расхождение" in str(factor)
    assert [english_words(str(e)) for e in (error, shape, factor)] == [[], [], []]
    assert str(failure(checks.fail, "grad_overwritten", "W", "")) == f"W: {i18n.fill(DIAGNOSES['grad_overwritten'])}"


def test_the_language_is_set_around_a_block_and_restored_after_it():
    assert i18n.current() == "en"
    with pytest.raises(StudentFailure):
        with i18n.language("ru"):
            assert i18n._("{what}: output", what="SoftMax") == "SoftMax: выход"
            checks.fail("wrong_values", "x")
    assert i18n.current() == "en" and i18n._("{what}: output", what="SoftMax") == "SoftMax: output"
    with pytest.raises(i18n.UnknownLanguage):
        with i18n.language("xx"):
            pass


def test_gradescope_and_the_nbgrader_feedback_cells_follow_the_results_language():
    course = manifest.load("modules-ru")
    outcomes = [TestOutcome("Linear", key, key != "forward", "" if key != "forward" else
                            i18n.catalogue("ru")["{what}: output"].format(what="Linear(3, 2)"), "wrong_values",
                            "output matches {linear_forward}") for key in course.items["Linear"].tests]
    result = results.SubmissionResult.build(course, outcomes, {"cells": []})
    lines = results.item_feedback(result, "Linear")
    assert lines[0] == "## ✗ Linear: 0 / 1" and lines[2].startswith("- **Баллы не засчитаны**")
    assert "- **выход совпадает с input @ W.T + b**: Linear(3, 2): выход" in lines
    shown = result.to_gradescope(course)
    assert shown["output"] == "Баллы: 0 / 13."
    assert [english_words(f"{t['name']} {t['output']}") for t in shown["tests"]] == [[]] * len(shown["tests"])
    assert any("_Тест пройден, но его баллы не засчитываются" in t["output"] for t in shown["tests"])


# -- the language travels --------------------------------------------------------------------------

def test_the_profile_chooses_the_language_and_an_unknown_one_is_refused(tmp_path):
    assert manifest.load("modules-ru").language == "ru" and manifest.load("modules").language == "en"
    bad = tmp_path / "bad.toml"
    bad.write_text((manifest.ASSIGNMENTS / "modules-ru.toml").read_text().replace('language = "ru"',
                                                                                  'language = "xx"'))
    with pytest.raises(manifest.ManifestError, match="xx"):
        manifest.load(bad)


def test_a_result_remembers_its_language_and_renders_its_headings_in_it():
    course = manifest.load("modules-ru")
    result = results.SubmissionResult.build(course, [], {"cells": []})
    assert result.language == "ru" and i18n.current() == "en"
    data = json.loads(json.dumps(result.to_json()))
    assert data["extra_data"]["language"] == "ru"
    again = results.SubmissionResult.from_json(data, course)
    assert again.language == "ru" and again.to_markdown() == result.to_markdown()
    assert again.to_markdown().startswith("# Результаты проверки: modules-ru\n\n**Итого: 0 / 13**")
    english = results.SubmissionResult.build(course, [], {"cells": []}, language="en")
    assert english.to_markdown().startswith("# Feedback: modules-ru\n\n**Total: 0 / 13**")
    data["extra_data"]["language"] = "xx"
    with pytest.raises(results.MalformedResults):
        results.SubmissionResult.from_json(data, course)


# -- a submission with mistakes, graded ------------------------------------------------------------

# Mistakes put into the solved release: item -> (solution cell, the right line, the wrong line)
MISTAKES = {
    "Linear": ("solution_Linear", "self.grad_input = grad_output @ self.W.T",
               "self.grad_input = (grad_output @ self.W.T) if self.W.shape[0] != self.W.shape[1] "
               "else grad_output @ self.W"),  # W transposed where it still runs
    "SoftMax": ("solution_SoftMax", "s * (grad_output - (grad_output * s).sum(axis=1, keepdims=True))",
                "s * grad_output"),  # a term of the formula missing
    "SoftPlus": ("solution_SoftPlus", "self.output = np.logaddexp(0, input)",
                 "raise ValueError('не готово')"),  # an exception
    "MSECriterion": ("solution_MSECriterion", "self.grad_input = 2 * (input - target) / input.shape[0]",
                     "self.grad_input = (input - target) / input.shape[0]"),  # the factor 2 missing
}
STUB = "ELU"  # its solution left as released: a stub


def submission_with_mistakes(path):
    """The modules-ru release, solved, with :data:`MISTAKES` in it and :data:`STUB` left a stub."""
    filled_notebook(RELEASE / "modules.ipynb", SOURCE / "modules.ipynb", path)
    nb = nbformat.read(path, 4)
    released = {profiles.key_of(c): c.source for c in nbformat.read(RELEASE / "modules.ipynb", 4).cells}
    cells = {profiles.key_of(c): c for c in nb.cells}
    for key, right, wrong in MISTAKES.values():
        assert right in cells[key].source, key
        cells[key].source = cells[key].source.replace(right, wrong)
    cells[f"solution_{STUB}"].source = released[f"solution_{STUB}"]
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The submission graded in Russian (the profile's language) through ``runner.grade_submission``."""
    path = submission_with_mistakes(tmp_path_factory.mktemp("ru") / "modules.ipynb")
    return path, grade_submission(manifest.load("modules-ru"), path)


def test_the_mistakes_cost_their_items_all_their_points(graded):
    _, result = graded
    course = manifest.load("modules-ru")
    wrong = set(MISTAKES) | {STUB}
    assert result.dialect == "snake" and result.language == "ru" and result.scoring == "all_or_nothing"
    assert {name for name, item in result.items.items() if item.score == 0} == wrong
    assert all(item.full for name, item in result.items.items() if name not in wrong)
    assert result.score == course.max_score - sum(course.items[name].max_score for name in wrong) == 9.5


def test_every_message_and_the_feedback_are_russian(graded):
    _, result = graded
    failed = [t for t in result.tests if not t.passed]
    assert {t.item for t in failed} == set(MISTAKES) | {STUB}
    assert {t.diagnosis for t in failed} >= {"not_implemented", "raised"}
    english = {t.name: english_words(f"{t.name} {t.output}") for t in result.tests}
    assert {name: words for name, words in english.items() if words} == {}
    feedback = result.to_markdown()
    assert english_words(feedback) == []
    assert "**Баллы не засчитаны**" in feedback and "`derivation_Linear`" in feedback
    assert "- **Ещё не написано**: `ELU.update_output`, `ELU.update_grad_input` по-прежнему выбрасывают " \
           "NotImplementedError." in feedback
    assert "Результат не совпадает с ожидаемым" in feedback or "Результат равен ожидаемому" in feedback
    assert english_words(result.output) == [] and result.output == "Баллы: 9.5 / 13."


def test_lang_en_gives_the_same_grading_in_english(graded, tmp_path):
    path, russian = graded
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(path, submissions / "mistakes.ipynb")
    out = tmp_path / "graded"
    command = [sys.executable, "-m", "autograder", "grade", "modules-ru", str(submissions), "--out", str(out),
               "--quiet", "-j", "1", "--lang", "en"]
    done = subprocess.run(command, cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    english = results.SubmissionResult.from_json(json.loads((out / "mistakes" / "results.json").read_text()))
    assert english.language == "en" and english.score == russian.score
    assert [(t.test, t.passed, t.diagnosis) for t in english.tests] == [
        (t.test, t.passed, t.diagnosis) for t in russian.tests]
    feedback = (out / "mistakes" / "feedback.md").read_text()
    assert feedback.startswith("# Feedback: modules-ru") and "**Points not counted**" in feedback
    assert not re.search("[а-яА-Я]", prose(feedback)), feedback  # the student's own text aside (code blocks)


# -- a file the reader cannot read --------------------------------------------------------------------

def test_a_notebook_that_cannot_be_read_is_explained_in_russian(tmp_path):
    path = tmp_path / "modules.ipynb"
    path.write_text('{"cells": [', encoding="utf-8")
    result = grade_submission(manifest.load("modules-ru"), path)
    message = result.tests[0].output
    assert "modules.ipynb не удалось прочитать: modules.ipynb — некорректный ноутбук (его JSON не разбирается:" \
        in message, message
    assert result.score == 0 and not english_words(prose(message.split("(его JSON")[0]))


def test_only_the_readers_own_templates_are_filled_in():
    from autograder.sandbox.client import StudentError, reader_reason

    def error(template, params, message="the worker's own words"):
        return StudentError({"type": "UnreadableNotebook", "message": message, "template": template,
                             "params": params})

    with i18n.language("ru"):
        assert reader_reason(error(reader.NOT_AN_OBJECT, {"name": "a.ipynb"})).startswith("a.ipynb — не ноутбук")
        # a template the reader does not have, or parts that do not fit, leave the worker's words
        assert reader_reason(error("{name.__class__}", {"name": "a"})) == "the worker's own words"
        assert reader_reason(error(reader.TOO_MUCH_CODE, {"count": "many"})) == "the worker's own words"
        assert reader_reason(error(reader.NOT_JSON, {"name": "a"})) == "the worker's own words"


def test_a_refused_submission_is_told_why_in_russian(tmp_path):
    """A symbolic link among the submissions is refused at discovery; its feedback says why, in
    the course's language (``autograder grade``, as an instructor runs it)."""
    folder = tmp_path / "submitted"
    folder.mkdir()
    (folder / "eve.ipynb").symlink_to(RELEASE / "modules.ipynb")
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", "modules-ru", str(folder),
                          "--out", str(tmp_path / "out"), "--quiet"], capture_output=True, text=True)
    feedback = (tmp_path / "out" / "eve" / "feedback.md").read_text(encoding="utf-8")
    assert "eve.ipynb — символическая ссылка; ссылки не проверяются" in feedback, (run.stderr, feedback)
