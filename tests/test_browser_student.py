"""A student's first session, in a real JupyterLab driven through Chromium.

The README's student section is followed as written: the environment made by its one install
command (``tests.test_student_environment``, kept in the user's cache), JupyterLab from that
environment on a copy of the release. Then, as a student would: open ``modules.ipynb``,
Restart Kernel and Run All (no cell shows a traceback, the formulas are typeset), type a correct
``Linear`` into its cell with the keyboard, run it and its self-check ("all checks passed"),
open ``training.ipynb`` from the file browser and Run All with the other modules still stubs
(each experiment says why it skipped, the final model that there is no ``model`` yet).

A screenshot of each step is saved under the test's temporary folder (``screenshots/``).
"""
import json
import re
import shutil
import time
import urllib.request

from tests.test_student_environment import RELEASE, student_environment

RUN_ALL_SECONDS = 600  # a loaded machine; training.ipynb with stubs needs well under a minute
LAB_SETTINGS = {
    # every cell in the page, so that the test sees each output (JupyterLab renders only the
    # visible cells of a long notebook by default)
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
}

# A correct Linear, line by line as typed (the editor indents after a colon; each line's own
# indentation replaces what the editor put there).
LINEAR = '''class Linear(Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        bound = 1.0 / np.sqrt(n_in)
        self.W = np.random.uniform(-bound, bound, size=(n_out, n_in))
        self.b = np.random.uniform(-bound, bound, size=n_out)
        self.gradW = np.zeros_like(self.W)
        self.gradb = np.zeros_like(self.b)

    def updateOutput(self, input):
        self.output = input @ self.W.T + self.b
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput @ self.W
        return self.gradInput

    def accGradParameters(self, input, gradOutput):
        self.gradW += gradOutput.T @ input
        self.gradb += gradOutput.sum(axis=0)

    def getParameters(self):
        return [self.W, self.b]

    def getGradParameters(self):
        return [self.gradW, self.gradb]

    def __repr__(self):
        n_out, n_in = self.W.shape
        return f"Linear {n_in} -> {n_out}"'''


def put_settings(lab, settings):
    """JupyterLab's user settings, through its settings API (as its Settings Editor saves them)."""
    for plugin, values in settings.items():
        request = urllib.request.Request(f"{lab.base}lab/api/settings/{plugin}", method="PUT",
                                         data=json.dumps({"raw": json.dumps(values)}).encode(),
                                         headers={"Authorization": f"token {lab.token}",
                                                  "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()


def notebook(page):
    """The notebook in the main area's current tab."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")


def open_from_file_browser(page, name):
    page.locator(".jp-DirListing-item", has_text=name).first.dblclick()
    return wait_for_notebook(page)


def wait_for_notebook(page):
    """Until the current tab's notebook shows its cells and its kernel is idle; returns the notebook."""
    page.wait_for_function(
        """() => {
            const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
            const status = panel && panel.querySelector('.jp-Notebook-ExecutionIndicator');
            return panel && panel.querySelectorAll('.jp-Cell').length > 5
                && /\\| Idle/.test(document.querySelector('.jp-StatusBar-Widget, #jp-main-statusbar').textContent)
                && status && status.dataset.status === 'idle';
        }""", timeout=RUN_ALL_SECONDS * 1000, polling=500)
    return notebook(page)


def restart_and_run_all(page):
    """Kernel menu -> Restart Kernel and Run All Cells..., confirmed; returns when the cells have
    been queued and none is still queued or running, with the kernel idle."""
    page.get_by_role("menuitem", name="Kernel", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Restart Kernel and Run All Cells")).click()
    page.locator(".jp-Dialog .jp-mod-accept").click()
    page.wait_for_function(  # the first cell queued or already run again
        """() => {
            const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
            return /\\[(\\*|1)\\]/.test(panel.querySelector('.jp-CodeCell .jp-InputPrompt').textContent);
        }""", timeout=RUN_ALL_SECONDS * 1000, polling=200)
    wait_until_done(page)


def wait_until_done(page):
    """Until no cell is queued or running and the kernel is idle."""
    page.wait_for_function(
        """() => {
            const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
            const status = panel.querySelector('.jp-Notebook-ExecutionIndicator');
            const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent);
            return status && status.dataset.status === 'idle' && !prompts.some(p => p.includes('*'));
        }""", timeout=RUN_ALL_SECONDS * 1000, polling=1000)


def code_cells(panel):
    return panel.locator(".jp-CodeCell")


def unexecuted(panel):
    """The code cells that have no execution count: Run All stopped before them."""
    prompts = code_cells(panel).locator(".jp-InputPrompt").all_text_contents()
    return [number for number, prompt in enumerate(prompts) if not re.search(r"\[\d+\]", prompt)]


def tracebacks(panel):
    """The texts of the outputs on stderr: an exception's traceback, or a warning (tqdm's without ipywidgets)."""
    return panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()


def type_into(page, editor, text):
    """Replace the editor's text by ``text``, typed with the keyboard. After each Enter the editor
    indents by itself; Shift+Home selects that indentation and the line as typed replaces it."""
    editor.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.press("Delete")
    for number, line in enumerate(text.split("\n")):
        if number:
            page.keyboard.press("Enter")
            page.keyboard.press("Shift+Home")
        page.keyboard.type(line)  # a blank line keeps the editor's indentation, harmless in Python


def cell_with(panel, text):
    return code_cells(panel).filter(has=panel.page.locator(".jp-InputArea", has_text=text)).first


def test_a_student_runs_the_release_fills_linear_and_runs_training_with_stubs(jupyterlab, page, shot, tmp_path):
    started = time.monotonic()
    environment = student_environment()  # the README's install command; skips when PyPI is unreachable
    course = tmp_path / "student"
    shutil.copytree(RELEASE, course / "modules")
    lab = jupyterlab(course / "modules", command=[environment / "bin" / "jupyter", "lab",
                                                  f"--ServerApp.root_dir={course / 'modules'}"])
    put_settings(lab, LAB_SETTINGS)

    # modules.ipynb: Restart Kernel and Run All with every stub in place
    page.goto(lab.url("lab/tree/modules.ipynb"))
    panel = wait_for_notebook(page)
    shot("modules-open")
    restart_and_run_all(page)
    assert unexecuted(panel) == [], "Run All stopped at an error"
    assert tracebacks(panel) == []
    outputs = " ".join(panel.locator(".jp-OutputArea-output").all_inner_texts())
    assert "not implemented yet" in outputs and "Traceback" not in outputs
    math = panel.locator(".jp-MarkdownCell mjx-container")
    assert math.count() > 50, "the formulas are not typeset"
    assert "$" not in panel.locator(".jp-MarkdownCell", has_text="Notation for the derivations").inner_text()
    panel.locator(".jp-MarkdownCell", has_text="Notation for the derivations").scroll_into_view_if_needed()
    shot("modules-math-rendered")
    stub_check = cell_with(panel, "check_layer(Linear(4, 3)")
    stub_check.scroll_into_view_if_needed()
    shot("modules-run-all-with-stubs")

    # the student writes Linear, runs it (Shift+Enter moves on to its self-check) and the self-check
    linear = cell_with(panel, "class Linear(Module)")
    linear.scroll_into_view_if_needed()
    type_into(page, linear.locator(".cm-content"), LINEAR)
    shot("linear-typed")
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")
    wait_until_done(page)
    check = cell_with(panel, "check_layer(Linear(4, 3)")
    check_output = check.locator(".jp-OutputArea").inner_text()
    check.locator(".jp-OutputArea").scroll_into_view_if_needed()
    shot("linear-self-check")
    assert tracebacks(panel) == []
    assert "Self-check of Linear" in check_output and "Properties of Linear" in check_output, check_output
    assert check_output.count("-> all checks passed") == 2, check_output
    assert "FAIL" not in check_output and "not implemented yet" not in check_output, check_output
    page.keyboard.press("ControlOrMeta+s")

    # training.ipynb, opened from the file browser, Run All with the other modules still stubs
    panel = open_from_file_browser(page, "training.ipynb")
    shot("training-open")
    restart_and_run_all(page)
    assert unexecuted(panel) == [], "Run All stopped at an error"
    assert tracebacks(panel) == []
    text = "\n".join(panel.locator(".jp-OutputArea-output").all_inner_texts())
    skipped = re.findall(r"^(2[abcd]\. .*?): skipped, because Sequential\.train is not implemented yet", text, re.M)
    assert len(skipped) == 4, text
    assert "3. Your final model: skipped, because this cell is not written yet" in text
    assert "There is no `model` yet" in text
    assert "still stubs:" in text and "All modules" not in text
    first_run = code_cells(panel).first.locator(".jp-OutputArea").inner_text()
    assert len(first_run.strip().splitlines()) <= 2, first_run  # not modules.ipynb's hundred lines
    outputs = panel.locator(".jp-OutputArea-output")
    outputs.filter(has_text="still stubs:").first.scroll_into_view_if_needed()
    shot("training-which-modules-are-stubs")
    outputs.filter(has_text=re.compile(r"2a\. .*skipped, because")).first.scroll_into_view_if_needed()
    shot("training-experiment-skipped")
    outputs.filter(has_text="There is no `model` yet").first.scroll_into_view_if_needed()
    shot("training-no-model-yet")
    assert page.outside_requests == [], "JupyterLab asked for something outside this machine"
    print(f"wall time of the student's session: {time.monotonic() - started:.0f} s")
