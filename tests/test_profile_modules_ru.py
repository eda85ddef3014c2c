"""The modules-ru course (the DS-поток homework: snake API, Russian, 20 points): its source is what
the generator makes, its own Linear and Scaling are right, its Russian keeps the English formulas
and leaves no English prose, its self-checks speak Russian, and its release grades at full marks
with the solutions and at 0 with the stubs."""
import json
import re
import shutil
import subprocess
import sys
import tokenize

import nbformat
import numpy as np
import pytest

from autograder import manifest, profiles
from autograder.release import ROOT, Report, check_release, check_sources, unparsable_cells
from tests.helpers import filled_notebook
from tests.test_course import execute, kernel  # noqa: F401 - kernel is a fixture
from tests.test_student_notebooks import code_cells, errors, printed, run_all

NAME = "modules-ru"
COURSE = manifest.load(NAME)
PROFILE = profiles.load(NAME)
SOURCE = ROOT / "source_notebooks" / NAME
RELEASE = ROOT / "release" / NAME
MAIN = ROOT / "source_notebooks" / "modules"
ITEMS = {"Sequential", "Linear", "SoftMax", "Dropout", "BatchNormalization", "LeakyReLU", "ELU", "SoftPlus",
         "MSECriterion", "ClassNLLCriterionUnstable", "ClassNLLCriterion", "sgd_momentum"}
# $$...$$ first, then $...$; a backslash-escaped dollar is no delimiter
MATH = re.compile(r"\$\$(.+?)\$\$|(?<!\\)\$(.+?)(?<!\\)\$", re.DOTALL)


def cell(nb, key):
    return next(c for c in nb.cells if profiles.key_of(c) == key)


# -- the points --------------------------------------------------------------------------------

def test_the_twenty_points_are_split_as_the_course_splits_them():
    code = {name: item.max_score for name, item in COURSE.items.items()}
    derivation = {key.removeprefix("derivation_"): points for key, points in COURSE.manual.items()}
    totals = {name: code[name] + derivation.get(name, 0) for name in code}
    assert set(code) == ITEMS
    assert totals == {"Sequential": 2, "Linear": 2, "SoftMax": 3, "Dropout": 2, "BatchNormalization": 3,
                      "LeakyReLU": 1, "ELU": 1, "SoftPlus": 1, "MSECriterion": 1, "ClassNLLCriterionUnstable": 1,
                      "ClassNLLCriterion": 1, "sgd_momentum": 2}
    assert derivation == {"Linear": 1, "SoftMax": 2, "Dropout": 1, "LeakyReLU": 0.5, "ELU": 0.5, "SoftPlus": 0.5,
                          "MSECriterion": 0.5, "ClassNLLCriterionUnstable": 0.5, "ClassNLLCriterion": 0.5}
    assert sum(totals.values()) == 20 and COURSE.max_score == 13


def test_russian_points_words_are_declined():
    assert [profiles.points_words(p, "ru") for p in (0.5, 1, 2, 3, 5, 11, 21)] == [
        "(0,5 балла", "(1 балл", "(2 балла", "(3 балла", "(5 баллов", "(11 баллов", "(21 балл"]
    assert profiles.points_words(0.5, "en") == "(0.5 points"


# -- one source of truth -----------------------------------------------------------------------

def test_the_committed_source_is_current():
    assert profiles.stale_files(NAME) == [], f"run `autograder profile generate {NAME}`"


def test_every_markdown_cell_has_a_russian_text():
    assert profiles.generate(NAME, ROOT / "build" / "profile-check" / NAME).untranslated == []
    shutil.rmtree(ROOT / "build" / "profile-check")


def test_the_course_file_speaks_russian_and_is_otherwise_the_main_one():
    shipped, main = (SOURCE / "selfcheck.py").read_text(), (MAIN / "selfcheck.py").read_text()
    assert 'LANGUAGE = "ru"' in shipped
    assert shipped == main.replace('LANGUAGE = "en"', 'LANGUAGE = "ru"', 1)


# -- the snake course's own mathematics --------------------------------------------------------

def own_linear():
    """The snake Linear of the profile's own solution cell, with the main course's base classes."""
    main = nbformat.read(SOURCE / "modules.ipynb", 4)
    scope = {}
    for key in ("given_imports", "given_base_classes", "solution_Linear", "given_ChannelwiseScaling"):
        source = cell(main, key).source
        exec("\n".join(line for line in source.splitlines() if not line.startswith("from selfcheck")), scope)
    return scope


def numeric_gradient(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        plus = f()
        x[index] = old - h
        minus = f()
        x[index] = old
        grad[index] = (plus - minus) / (2 * h)
    return grad


@pytest.mark.parametrize("layer_name, args", [("Linear", (4, 3)), ("Scaling", (3,))])
def test_the_own_layers_gradients_match_finite_differences(layer_name, args):
    scope = own_linear()
    rng = np.random.default_rng(5)
    layer = scope[layer_name](*args)
    x = rng.normal(size=(6, args[0]))
    g = rng.normal(size=layer.forward(x).shape)
    layer.zero_grad_params()
    grad_input = layer.backward(x, g)
    loss = lambda: float(np.sum(layer.forward(x) * g))  # noqa: E731
    np.testing.assert_allclose(grad_input, numeric_gradient(loss, x), rtol=1e-6, atol=1e-8)
    for param, grad in zip(layer.get_parameters(), layer.get_grad_params()):
        assert grad.shape == param.shape
        np.testing.assert_allclose(grad, numeric_gradient(loss, param), rtol=1e-6, atol=1e-8)


def test_the_own_layers_use_the_snake_layouts():
    scope = own_linear()
    linear, scaling = scope["Linear"](4, 3), scope["Scaling"](3)
    assert linear.W.shape == (4, 3)
    x = np.arange(8.0).reshape(2, 4)
    np.testing.assert_allclose(linear.forward(x), x @ linear.W + linear.b)
    assert scaling.gamma.shape == scaling.beta.shape == (1, 3)


def test_the_linear_derivation_states_the_snake_formulas():
    text = cell(nbformat.read(SOURCE / "modules.ipynb", 4), "derivation_Linear").source
    for formula in (r"\frac{\partial L}{\partial X} = G\,W^\top", r"\frac{\partial L}{\partial W} = X^\top G",
                    "grad_input = grad_output @ W.T", "gradW += input.T @ grad_output"):
        assert formula in text


# -- the Russian -------------------------------------------------------------------------------

MATH_TEXT = re.compile(r"\\text\{([^{}]*)\}")  # words inside a formula: \text{поэлементно}


def formulas(text):
    """The formulas of a Markdown text, with the words of their ``\\text{}`` left out (those are translated)."""
    return sorted(MATH_TEXT.sub(r"\\text{}", a or b) for a, b in MATH.findall(text))


def catalog_pairs():
    for plan in PROFILE.notebooks:
        if plan.cells:
            continue
        main = {profiles.key_of(c): c for c in nbformat.read(MAIN / (plan.source or plan.name), 4).cells}
        for key, path in profiles.load_catalog(PROFILE, plan.name).items():
            if path.suffix == ".md":
                yield f"{plan.name}:{key}", main[key].source, path.read_text()


@pytest.mark.parametrize("key, english, russian", list(catalog_pairs()),
                         ids=lambda v: v if ":" in str(v) and " " not in str(v) else "")
def test_each_russian_cell_keeps_the_formulas_of_its_english_one(key, english, russian):
    assert formulas(russian) == formulas(english)


LATIN_WORD = re.compile(r"\b[A-Za-z][a-z]{2,}\b")
# Words a Russian DL text writes in Latin letters: names of libraries, methods and a few terms.
LATIN_ALLOWED = {"NumPy", "PyTorch", "Torch", "SciPy", "LaTeX", "Markdown", "Validate", "Kernel", "Restart", "Run",
                 "All", "Cells", "nbgrader", "bias", "momentum", "underflow", "inverted", "dropout", "one", "hot",
                 "logsumexp", "seed", "traceback", "broadcasting", "clip", "product", "vector", "Jacobian", "Adam",
                 "Rectified", "linear", "unit", "Exponential", "Fashion", "learn", "scikit", "with", "softmax",
                 "Softmax", "Python"}


def prose(text):
    """``text`` without its code (fenced, inline), math, HTML comments, tables' code and identifiers."""
    text = re.sub(r"```.*?```", " ", text, flags=re.DOTALL)
    text = re.sub(r"<!--.*?-->", " ", text)
    text = MATH.sub(" ", text)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\*[A-Za-z][^*]*→[^*]*\*", " ", text)  # menu paths: *Kernel → Restart ...*
    return text


def math_words(text):
    """The words inside the formulas of a Markdown text (their ``\\text{...}``)."""
    return " ".join(" ".join(MATH_TEXT.findall(a or b)) for a, b in MATH.findall(text))


def code_prose(source):
    """What a student reads in a code cell: its strings' text and its comments, without the code they
    quote (``spans``, `spans`) and an f-string's {fields}."""
    texts = [source[start:end] for start, end in profiles.code_texts(source)]
    return re.sub(r"``.*?``|`[^`]*`|\{[^{}]*\}", " ", "\n".join(texts), flags=re.DOTALL)


def code_names(sources):
    """The names the code of these cells uses (variables, functions, attributes, keywords): a word
    that is one of them is code, not prose, wherever it is written."""
    names = set()
    for source in sources:
        names |= {t.string for t in tokenize.generate_tokens(iter(source.splitlines(True)).__next__)
                  if t.type == tokenize.NAME}
    return names


def english_words(text, code=frozenset()):
    return sorted({w for w in LATIN_WORD.findall(text) if w not in LATIN_ALLOWED and w not in COURSE_NAMES
                   and w not in code and w not in CODE_VALUES and not any(ch.isupper() for ch in w[1:])})


def english_in_notebook(path):
    """``{cell key: English words}`` of a released notebook: its Markdown prose, the words of its
    formulas, and its code cells' strings and comments."""
    nb = nbformat.read(path, 4)
    code = code_names(c.source for c in nb.cells if c.cell_type == "code")
    found = {}
    for c in nb.cells:
        text = (prose(c.source) + " " + math_words(c.source) if c.cell_type == "markdown"
                else code_prose(c.source))
        words = english_words(text, code)
        if words:
            found[f"{path.name}:{profiles.key_of(c)}"] = words
    return found


def test_no_english_prose_is_left_in_the_russian_release():
    found = {}
    for path in sorted(RELEASE.glob("*.ipynb")):
        found.update(english_in_notebook(path))
    assert found == {}


def test_the_release_has_russian_stubs_for_the_answers():
    text = "".join(path.read_text() for path in RELEASE.glob("*.ipynb"))
    assert "YOUR CODE HERE" not in text and "YOUR ANSWER HERE" not in text
    assert text.count(profiles.STUBS["ru"]["code"].split("\n")[0]) >= 12 and profiles.STUBS["ru"]["text"] in text


COURSE_NAMES = {"Sequential", "Linear", "SoftMax", "LogSoftMax", "Dropout", "BatchNormalization", "Scaling", "ReLU",
                "LeakyReLU", "ELU", "SoftPlus", "MSECriterion", "NLLCriterion", "NLLCriterionUnstable", "SGD",
                "Bernoulli", "Module", "Criterion", "Square", "Scale", "BatchNorm", "MNIST", "IDX"}
# Strings and comments that are for code, not for a reader: NumPy's and Matplotlib's options, a
# configuration key, the name of a module-level frame, a linter's directive.
CODE_VALUES = {"valid", "major", "off", "gray_r", "log", "all", "epsilon", "module", "noqa"}


def test_the_english_prose_check_can_fail():
    assert LATIN_WORD.findall(prose("Вывод: the gradient is `g @ W` and $x$")) == ["the", "gradient", "and"]
    assert english_words(printed_prose("пропущен: в Sequential.train (modules.ipynb) ещё заглушка, see the end.")) \
        == ["end", "see", "the"]
    assert english_words(math_words(r"$$f(x) = x \text{ for } x > 0$$ и $y\text{ поэлементно}$")) == ["for"]
    cell_source = ('def f(values):\n    """Sum of the ``values``."""\n    # the total\n'
                   '    print(f"сумма {values}: готово", "got it")\n    return sum(values)  # ok\n')
    assert english_words(code_prose(cell_source), code_names([cell_source])) == ["Sum", "got", "the", "total"]


def test_the_english_check_finds_the_main_courses_english():
    """Run on the English release, the check finds English in Markdown, formulas and code cells."""
    found = english_in_notebook(ROOT / "release" / "modules" / "modules.ipynb")
    assert "modules.ipynb:given_base_classes" in found and "modules.ipynb:bcec338e" in found
    assert any("element" in words or "wise" in words for words in found.values())  # \text{element-wise}
    assert "modules.ipynb:09140e08" in found


def main_code_cells():
    """``(notebook, key, main cell in the profile's dialect, Russian cell)`` for every code cell of the
    Russian source that comes from the main course."""
    for plan in PROFILE.notebooks:
        if plan.cells:
            continue
        main = {profiles.key_of(c): c for c in nbformat.read(MAIN / (plan.source or plan.name), 4).cells}
        for c in nbformat.read(SOURCE / plan.name, 4).cells:
            key = profiles.key_of(c)
            if c.cell_type == "code" and key in main and key not in profiles.own_cell_files(PROFILE, plan):
                yield plan.name, key, profiles.dialects.rename(main[key].source, PROFILE.dialect), c.source


def test_each_translated_code_cell_is_otherwise_the_main_one():
    """Only strings and comments differ from the main course's code cell (in the snake names), and
    the Russian course does translate them."""
    translated = 0
    for notebook, key, main, russian in main_code_cells():
        assert profiles.code_skeleton(russian) == profiles.code_skeleton(main), f"{notebook}:{key}"
        translated += russian != main
    assert translated >= 30


def test_the_generator_refuses_a_translation_that_changes_code_or_matches_nothing(tmp_path, monkeypatch):
    shutil.copytree(profiles.PROFILES, tmp_path / "profiles")
    monkeypatch.setattr(profiles, "PROFILES", tmp_path / "profiles")
    strings = tmp_path / "profiles" / NAME / "ru" / "modules" / profiles.STRINGS
    original = strings.read_text()
    line = "ru = 'Свойства Sequential'"
    assert line in original
    strings.write_text(original.replace(line, """ru = '''Свойства", "Sequential'''"""))  # a second argument
    with pytest.raises(profiles.ProfileError, match="changes the main cell's code"):
        profiles.generate(NAME, tmp_path / "out")
    strings.write_text(original.replace("en = 'Properties of Sequential'", "en = 'Properties of a Sequential'"))
    with pytest.raises(profiles.ProfileError, match="Properties of a Sequential"):
        profiles.generate(NAME, tmp_path / "out")
    grade = tmp_path / "profiles" / NAME / "ru" / "modules" / "grade_Linear.py"
    grade.write_text(grade.read_text().replace('unfinished("Linear")', 'unfinished("Linear"); print()'))
    strings.write_text(original)
    with pytest.raises(profiles.ProfileError, match="grade_Linear.py"):
        profiles.generate(NAME, tmp_path / "out")


def test_an_f_string_keeps_its_fields_in_translation():
    main = 'print(f"{name}: {value:.3f} done")\n'
    assert profiles.translate_code(main, {"{name}: {value:.3f} done": "{name}: готово, {value:.3f}"}, set(), "t") \
        == 'print(f"{name}: готово, {value:.3f}")\n'
    with pytest.raises(profiles.ProfileError):
        profiles.translate_code(main, {"{name}: {value:.3f} done": "{name}: готово"}, set(), "t")


def test_the_self_checks_speak_russian(monkeypatch):
    sys.path.insert(0, str(SOURCE))
    try:
        import importlib.util
        spec = importlib.util.spec_from_file_location("selfcheck_ru", SOURCE / "selfcheck.py")
        selfcheck = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(selfcheck)
    finally:
        sys.path.remove(str(SOURCE))
    assert set(selfcheck.MESSAGES["ru"]) == set(selfcheck.MESSAGES["en"])
    table = selfcheck.property_table("Свойства", lambda: [("первое", True), ("второе", False)])
    assert table.rows and not table.passed
    stub = selfcheck.CheckTable("t")
    stub.add("forward", None)
    assert selfcheck.missing_work("Linear", {}) .startswith("Linear не определён")
    assert selfcheck._results() == {True: "ok", False: "ОШИБКА", None: "ещё не написано"}


# -- the release -------------------------------------------------------------------------------

def test_the_sources_agree_with_the_manifest():
    report = Report()
    check_sources(COURSE, SOURCE, report)
    assert report.ok, [c for c in report.checks if not c.ok]


def test_the_release_leaks_nothing_and_its_stubs_score_zero():
    report = Report()
    check_release(COURSE, RELEASE, report)
    assert report.ok, [c for c in report.checks if not c.ok]


def test_the_release_has_the_three_notebooks_and_the_given_modules():
    assert sorted(p.name for p in RELEASE.glob("*.ipynb")) == ["modules.ipynb", "tests.ipynb", "training.ipynb"]
    modules = nbformat.read(RELEASE / "modules.ipynb", 4)
    given = cell(modules, "given_LogSoftMax").source
    assert "def update_grad_input" in given and "NotImplementedError" not in given
    assert "NotImplementedError" in cell(modules, "solution_Linear").source


def test_a_snake_submission_is_graded_at_the_autograded_part_of_twenty(tmp_path):
    """Through ``autograder grade modules-ru``: the release with its solutions filled in gets the
    13 autograded points (20 minus the 7 of the derivations), the untouched release none."""
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    filled_notebook(RELEASE / "modules.ipynb", SOURCE / "modules.ipynb", submissions / "solved.ipynb")
    shutil.copy(RELEASE / "modules.ipynb", submissions / "untouched.ipynb")
    out = tmp_path / "graded"
    command = [sys.executable, "-m", "autograder", "grade", NAME, str(submissions), "--out", str(out), "--quiet",
               "-j", "1"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    solved = json.loads((out / "solved" / "results.json").read_text())
    untouched = json.loads((out / "untouched" / "results.json").read_text())
    for results in (solved, untouched):
        assert set(results["extra_data"]["items"]) == ITEMS
        assert results["max_score"] == 13
    assert solved["extra_data"]["dialect"] == "snake"
    assert solved["score"] == 13, [t["name"] for t in solved["tests"] if t["status"] != "passed"]
    assert untouched["score"] == 0


def test_the_russian_notebooks_pass_their_own_self_checks_in_a_kernel(kernel, tmp_path):  # noqa: F811 - fixture
    """The instructor's Russian notebooks run top to bottom in a kernel: every self-check of the
    lesson passes, in Russian, and tests.ipynb's summary says so too."""
    shutil.copytree(SOURCE, tmp_path / NAME)
    for notebook in ("modules.ipynb", "tests.ipynb"):
        errors, text = execute(tmp_path / NAME / notebook)
        assert errors == [], (notebook, errors)
        assert "ОШИБКА" not in text and "ещё не" not in text, (notebook, text[-2000:])
        assert text.count("все проверки пройдены") >= 4, (notebook, text[-2000:])
        assert "all checks passed" not in text and "FAIL" not in text, notebook


def printed_prose(text):
    """Printed text without the names of files, attributes and magics it quotes (modules.ipynb,
    Sequential.train, %run)."""
    return re.sub(r"\w+(?:\.\w+)+|%\w+", " ", text)


def test_the_russian_training_notebook_runs_to_the_end_with_the_solutions(kernel, tmp_path):  # noqa: F811
    """The released training.ipynb beside the instructor's modules.ipynb (every module solved): its
    three experiments train and report, and all it prints is Russian."""
    shutil.copytree(SOURCE, tmp_path / NAME)
    shutil.copy(RELEASE / "training.ipynb", tmp_path / NAME / "training.ipynb")
    nb = run_all(tmp_path / NAME / "training.ipynb")
    assert errors(nb) == []
    text = "".join(printed(cell) for cell in code_cells(nb))
    assert "Модули для экспериментов раздела 2: написаны все (12)." in text, text
    assert text.count("обучено сетей:") == 3 and text.count("доля верных ответов на тесте") == 3, text
    assert "пропущен" not in text and "Traceback" not in text, text
    assert english_words(printed_prose(text)) == [], text


def test_the_russian_training_notebook_says_in_russian_which_modules_are_stubs(kernel, tmp_path):  # noqa: F811
    """The release as a student first runs it (Restart and Run All, every stub in place): no error,
    the modules still to write named in Russian, and each experiment skipped with one Russian line."""
    shutil.copytree(RELEASE, tmp_path / NAME)
    nb = run_all(tmp_path / NAME / "training.ipynb")
    assert errors(nb) == [], "Run All would stop at this cell"
    status = printed(code_cells(nb)[1])
    assert "написано 4 из 12" in status and "заглушки:    Sequential, Linear," in status, status
    assert "написано:    ReLU, Scaling, LogSoftMax, adam_optimizer" in status, status
    text = "".join(printed(cell) for cell in code_cells(nb))
    skipped = re.findall(r"^2[abc]\. .*: пропущен, потому что в Sequential\.train ещё заглушка", text, re.M)
    assert len(skipped) == 3, text
    assert "обучено сетей" not in text and english_words(printed_prose(text)) == [], text


def test_a_released_cell_that_is_not_python_is_found():
    """A stub nbgrader wrote wrongly grades 0 like any stub: the release check parses every cell."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%run modules.ipynb"),
                                         nbformat.v4.new_code_cell("def f():\n    python=# stub\n    raise E()")])
    nb.cells[1]["id"] = "solution_f"
    assert unparsable_cells(nb) == ["solution_f (line 2: invalid syntax)"]
