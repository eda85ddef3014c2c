"""Course profiles: a profile's source is what the generator makes from the main course, its release
passes release's checks, its derivations' formulas are right, and its students are graded on its
own items in its own dialect."""
import json
import re
import shutil
import subprocess
import sys

import nbformat
import numpy as np
import pytest

from autograder import manifest, profiles
from autograder.release import ROOT, Report, check_release, check_sources, comparable, generate, grade_folder
from reference_impl.convolution import Conv2d as ReferenceConv2d
from reference_impl.normalization import BatchNormalization as ReferenceBatchNormalization
from tests.helpers import filled_notebook
from tests.test_course import execute, kernel  # noqa: F401 - kernel is a fixture

HOOKS = manifest.load("hooks")
SOURCE = ROOT / "source_notebooks" / "hooks"
RELEASE = ROOT / "release" / "hooks"
HOOKS_ITEMS = {"BatchNormalization", "Dropout", "Conv2d"}


@pytest.fixture(scope="session")
def hooks_release(tmp_path_factory):
    """A fresh nbgrader release of the hooks course, made once for the tests of this file."""
    return generate("hooks", tmp_path_factory.mktemp("hooks-course"))


def cell(nb, key):
    return next(c for c in nb.cells if profiles.key_of(c) == key)


# -- one source of truth -----------------------------------------------------------------------

@pytest.mark.parametrize("name", profiles.names())
def test_the_committed_profile_source_is_current(name):
    stale = profiles.stale_files(name)
    assert not stale, (f"source_notebooks/{name}/ {stale} differ from the main course: "
                       f"run `autograder profile generate {name}`")


def test_a_fix_to_the_main_solution_reaches_the_profile(tmp_path, monkeypatch):
    """Edit the main course's Dropout solution in a copy: the next generate carries the edit, in
    the profile's dialect, and the committed profile source is then reported stale."""
    shutil.copytree(manifest.SOURCE_NOTEBOOKS, tmp_path / "source_notebooks")
    monkeypatch.setattr(manifest, "SOURCE_NOTEBOOKS", tmp_path / "source_notebooks")
    main_path = tmp_path / "source_notebooks" / "modules" / "modules.ipynb"
    main = nbformat.read(main_path, 4)
    solution = cell(main, "solution_Dropout")
    assert "self.gradInput = gradOutput * self.mask" in solution.source
    solution.source = solution.source.replace("self.gradInput = gradOutput * self.mask",
                                              "self.gradInput = self.mask * gradOutput  # fixed upstream")
    nbformat.write(main, main_path)

    assert profiles.stale_files("hooks") == ["modules.ipynb"]
    profiles.generate("hooks")
    regenerated = nbformat.read(tmp_path / "source_notebooks" / "hooks" / "modules.ipynb", 4)
    dropout = cell(regenerated, "solution_Dropout").source
    assert "self._input_grad = self.mask * output_grad  # fixed upstream" in dropout
    assert profiles.stale_files("hooks") == []


def test_the_profile_keeps_its_items_in_its_dialect_with_its_points():
    nb = nbformat.read(SOURCE / "modules.ipynb", 4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for torch_name in ("updateOutput", "updateGradInput", "accGradParameters", "getParameters", "gradInput",
                       "self.output"):
        assert torch_name not in code, f"{torch_name} left in the hooks course's code"
    graded = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade")}
    assert graded == {**{item.grade_id: item.max_score for item in HOOKS.items.values()}, **HOOKS.manual}
    for grade_id, points in graded.items():
        assert f"({points:g} points" in cell(nb, grade_id).source
    headings = [c.source.split("\n")[0] for c in nb.cells if profiles.NUMBERED_HEADING.match(c.source.split("\n")[0])]
    assert headings == ["## 1. BatchNormalization", "## 2. ChannelwiseScaling (given, with a worked derivation)",
                        "## 3. Dropout", "## 4. Conv2d"]


# -- the hooks course's own mathematics --------------------------------------------------------

def derivation_code(key):
    """The NumPy lines of a derivation answer of the hooks course (its ```python block)."""
    text = cell(nbformat.read(SOURCE / "modules.ipynb", 4), key).source
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) == 1, f"{key}: one ```python block expected"
    return blocks[0]


def run_derivation(X, dX, G, eps):
    scope = {"np": np, "X": X, "dX": dX, "G": G, "EPS": eps}
    exec(derivation_code("derivation_BatchNormalization"), scope)
    return scope


def test_the_batchnorm_derivation_states_each_differential_correctly():
    """Each step's stated differential is the directional derivative of that step, by central
    finite differences along dX (the steps are smooth, so 1e-6 agreement is expected)."""
    rng = np.random.default_rng(3)
    X, dX, G, eps, h = rng.normal(size=(7, 4)) * 2 + 1, rng.normal(size=(7, 4)), rng.normal(size=(7, 4)), 1e-3, 1e-6
    at = run_derivation(X, dX, G, eps)
    plus, minus = run_derivation(X + h * dX, dX, G, eps), run_derivation(X - h * dX, dX, G, eps)
    for value, differential in (("Xc", "dXc"), ("v", "dv"), ("S", "dS"), ("Y", "dY")):
        slope = (plus[value] - minus[value]) / (2 * h)
        np.testing.assert_allclose(at[differential], slope, rtol=1e-6, atol=1e-8, err_msg=differential)


def test_the_batchnorm_derivation_gives_the_reference_gradient():
    rng = np.random.default_rng(4)
    X, G = rng.normal(size=(9, 5)) * 3 - 2, rng.normal(size=(9, 5))
    layer = ReferenceBatchNormalization()
    forward = layer.forward(X)
    expected = layer.backward(X, G)
    stated = run_derivation(X, np.zeros_like(X), G, layer.EPS)
    np.testing.assert_allclose(stated["Y"], forward, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stated["grad"], expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(stated["grad_simplified"], expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(stated["P"] @ stated["P"], stated["P"], atol=1e-12)  # the centring matrix is idempotent


def run_conv2d_derivation(X, dX, W, dW, b, db, G):
    scope = {"np": np, "X": X, "dX": dX, "W": W, "dW": dW, "b": b, "db": db, "G": G}
    exec(derivation_code("derivation_Conv2d"), scope)
    return scope


def conv2d_arrays(seed, n=2, c_in=3, c_out=2, height=5, width=6, k=3):
    rng = np.random.default_rng(seed)
    return dict(X=rng.normal(size=(n, c_in, height, width)), dX=rng.normal(size=(n, c_in, height, width)),
                W=rng.normal(size=(c_out, c_in, k, k)), dW=rng.normal(size=(c_out, c_in, k, k)),
                b=rng.normal(size=c_out), db=rng.normal(size=c_out), G=rng.normal(size=(n, c_out, height, width)))


def test_the_conv2d_derivation_states_the_differential_and_the_adjoints_correctly():
    """Step 1's differential is the directional derivative of the forward pass along (dX, dW, db)
    (central differences are exact for a bilinear map, up to rounding); step 2's three inner
    products are one number; step 3's gradients give dL = <G, dY> term by term."""
    arrays = conv2d_arrays(6)
    at = run_conv2d_derivation(**arrays)
    h = 1e-3
    step = {name: arrays[name] + h * arrays["d" + name] for name in ("X", "W", "b")}
    back = {name: arrays[name] - h * arrays["d" + name] for name in ("X", "W", "b")}
    slope = (at["conv"](step["X"], step["W"], step["b"]) - at["conv"](back["X"], back["W"], back["b"])) / (2 * h)
    np.testing.assert_allclose(at["dY"], slope, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(at["step2"], [at["step2"][0]] * 3, rtol=1e-12)
    dL = np.sum(at["G"] * at["dY"])
    by_parts = (np.sum(at["grad_X"] * arrays["dX"]) + np.sum(at["grad_W"] * arrays["dW"])
                + np.sum(at["grad_b"] * arrays["db"]))
    np.testing.assert_allclose(dL, by_parts, rtol=1e-10)


@pytest.mark.parametrize("k", [3, 5])
def test_the_conv2d_derivation_gives_the_reference_gradients(k):
    """The forward pass and steps 3 and 4 against the reference Conv2d (im2col, no SciPy)."""
    arrays = conv2d_arrays(7, k=k)
    layer = ReferenceConv2d(3, 2, k)
    layer.W[...], layer.b[...] = arrays["W"], arrays["b"]
    stated = run_conv2d_derivation(**arrays)
    np.testing.assert_allclose(stated["Y"], layer.forward(arrays["X"]), rtol=1e-10, atol=1e-12)
    layer.zeroGradParameters()
    grad_input = layer.backward(arrays["X"], arrays["G"])
    np.testing.assert_allclose(stated["grad_X"], grad_input, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stated["grad_X_flipped"], grad_input, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stated["grad_W"], layer.gradW, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stated["grad_b"], layer.gradb, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("right, wrong", [
    ('convolve(B, K, mode="full")', 'correlate(B, K, mode="full")'),   # the kernel not flipped
    ("W[o, c, ::-1, ::-1]", "W[o, c]"),                                  # step 4 without the flip
    ("+ conv(X, dW, np.zeros_like(b))", ""),                             # step 1 without the weights' term
])
def test_the_conv2d_checks_catch_a_wrong_formula(monkeypatch, right, wrong):
    code = derivation_code("derivation_Conv2d")
    assert right in code
    monkeypatch.setattr(sys.modules[__name__], "derivation_code", lambda key: code.replace(right, wrong))
    with pytest.raises(AssertionError):
        test_the_conv2d_derivation_states_the_differential_and_the_adjoints_correctly()
        test_the_conv2d_derivation_gives_the_reference_gradients(3)


def test_the_hooks_texts_are_in_the_courses_own_terms():
    """The hooks course has no Linear, and it derives in matrix form: its ChannelwiseScaling text
    says neither "Linear" nor index sums, and its Conv2d answer is the differential form."""
    nb = nbformat.read(SOURCE / "modules.ipynb", 4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "Linear" not in markdown
    scaling = cell(nb, "9bad051f").source
    assert r"\sum_n G_{nj}" not in scaling and r"dY = dX \odot \mathbf 1\gamma" in scaling
    conv = cell(nb, "derivation_Conv2d").source
    assert r"\langle B, A \star K\rangle" in conv and r"\Pi^\top \sum_o G_{n,o} \ast W_{o,c}" in conv


# -- the release -------------------------------------------------------------------------------

def test_the_hooks_sources_agree_with_the_manifest():
    report = Report()
    check_sources(HOOKS, SOURCE, report)
    assert report.ok, [c for c in report.checks if not c.ok]


def test_the_hooks_solutions_get_full_marks_in_the_private_hooks_dialect():
    results = grade_folder(HOOKS, SOURCE)
    assert results.score == results.max_score == HOOKS.max_score, [t.name for t in results.tests if not t.passed]
    assert set(results.items) == HOOKS_ITEMS
    assert results.dialect == "private-hooks"


def test_the_committed_hooks_release_is_current(hooks_release):
    committed = sorted(p.name for p in RELEASE.iterdir() if p.is_file())
    assert committed == sorted(p.name for p in hooks_release.iterdir() if p.is_file()), "run: autograder release hooks"
    for path in hooks_release.iterdir():
        if path.suffix == ".ipynb":
            stale = comparable(nbformat.read(path, 4)) != comparable(nbformat.read(RELEASE / path.name, 4))
            assert not stale, f"release/hooks/{path.name} is stale: run `autograder release hooks`"
        else:
            assert path.read_bytes() == (RELEASE / path.name).read_bytes(), f"release/hooks/{path.name} is stale"


def test_the_hooks_release_leaks_nothing_and_its_stubs_score_zero():
    report = Report()
    check_release(HOOKS, RELEASE, report)
    assert report.ok, [c for c in report.checks if not c.ok]


def test_a_private_hooks_submission_is_graded_on_the_three_items(tmp_path):
    """Through ``autograder grade hooks``: the release with its solutions filled in gets every
    point, the untouched release none, and only the hooks course's items are graded."""
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    filled_notebook(RELEASE / "modules.ipynb", SOURCE / "modules.ipynb", submissions / "solved.ipynb")
    shutil.copy(RELEASE / "modules.ipynb", submissions / "untouched.ipynb")
    out = tmp_path / "graded"
    command = [sys.executable, "-m", "autograder", "grade", "hooks", str(submissions), "--out", str(out), "--quiet",
               "-j", "1"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    solved = json.loads((out / "solved" / "results.json").read_text())
    untouched = json.loads((out / "untouched" / "results.json").read_text())
    for results in (solved, untouched):
        assert set(results["extra_data"]["items"]) == HOOKS_ITEMS
        assert results["max_score"] == HOOKS.max_score
    assert solved["extra_data"]["dialect"] == "private-hooks"
    assert solved["score"] == HOOKS.max_score, [t["name"] for t in solved["tests"] if t["status"] != "passed"]
    assert untouched["score"] == 0


def test_the_hooks_notebook_passes_its_own_self_checks(kernel, tmp_path):  # noqa: F811 - the fixture
    shutil.copytree(SOURCE, tmp_path / "hooks")
    errors, text = execute(tmp_path / "hooks" / "modules.ipynb")
    assert errors == []
    assert "FAIL" not in text and "not implemented yet" not in text and "not yet" not in text
    assert text.count("all checks passed") >= 4
