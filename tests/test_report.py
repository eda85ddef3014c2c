"""The class report: one self-contained HTML page, looked at in a headless browser."""
import re
import shutil
import subprocess
import sys

import pytest

from autograder import manifest
from autograder.export import load_results
from autograder.report import follow_up, item_statistics, top_mistakes
from autograder.results import write_submission_results
from tests.test_export import synthetic_results

ASSIGNMENT = manifest.load("modules").main_only()  # the modules notebook only, as most classes hand it in

# A class of twelve: most make one of a few classic mistakes, one never started, one handed in
# something that is not a notebook, one has a cell that fails.
CLASS = {
    "alice": {},
    "bob": {("Linear", "accumulates"): "grad_overwritten"},
    "carol": {("Linear", "accumulates"): "grad_overwritten", ("SoftMax", "stable"): "softmax_overflow"},
    "dan": {("SoftMax", "stable"): "softmax_overflow"},
    "eve": {("SoftMax", "stable"): "softmax_overflow", ("LogSoftMax", "stable"): "softmax_overflow"},
    "fay": {("Linear", "accumulates"): "grad_overwritten"},
    "gus": {("MSECriterion", "batch_size"): "not_divided_by_batch"},
    "hal": {},
    "ivy": {("Dropout", "scaling"): "wrong_values"},
    "stub": {(item.name, key): "not_implemented" for item in ASSIGNMENT.items.values() for key in item.tests},
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("graded")
    for student, failures in CLASS.items():
        write_submission_results(folder / student, synthetic_results(ASSIGNMENT, student, failures))
    write_submission_results(folder / "kim", synthetic_results(ASSIGNMENT, "kim", failed_cells=1))
    write_submission_results(folder / "broken",
                             synthetic_results(ASSIGNMENT, "broken", error="broken.ipynb is not a valid notebook"))
    return folder


def test_statistics_count_each_mistake_once_per_student(graded):
    grades = load_results(graded, ASSIGNMENT)
    stats = item_statistics(grades)
    assert stats["Linear"]["mistakes"]["grad_overwritten"] == 3
    assert stats["SoftMax"]["mistakes"]["softmax_overflow"] == 3
    assert stats["LogSoftMax"]["mistakes"]["softmax_overflow"] == 1
    assert "not_implemented" not in stats["Linear"]["mistakes"]  # not attempted is not a mistake
    assert stats["Linear"]["not_attempted"] == 2  # the stub and the unreadable one
    assert top_mistakes(stats)[:2] == [(3, "Linear", "grad_overwritten"), (3, "SoftMax", "softmax_overflow")]
    followed = {record.student: reasons for record, reasons in follow_up(grades)}
    assert set(followed) == {"stub", "broken", "kim"}
    assert any("could not be graded" in r for r in followed["broken"])
    assert any("not attempted: Linear" in r for r in followed["stub"])
    assert any("cell(s) fail" in r for r in followed["kim"])
    assert [record.student for record, _ in follow_up(grades)][-1] == "kim"  # lowest total first


def report(graded, out):
    result = subprocess.run([sys.executable, "-m", "autograder", "report", "modules", "--results", str(graded),
                             "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return out.read_text(encoding="utf-8")


def test_report_is_one_self_contained_page(graded, tmp_path):
    page = report(graded, tmp_path / "report.html")
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    images = re.findall(r'<img[^>]* src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3  # scores, items, mistakes
    assert all(len(image) > 5000 for image in images)
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from elsewhere
    for heading in ("Scores", "Items", "Mistakes the class makes", "Students to follow up"):
        assert f"<h2>{heading}</h2>" in page
    follow = page.split("<h2>Students to follow up</h2>")[1]
    assert "stub" in follow and "broken" in follow and "kim" in follow and "alice" not in follow
    links = re.findall(r'href="([^"]+)"', follow)
    assert len(links) == 3 and all((tmp_path / link).is_file() for link in links)  # relative to the report
    mistakes = page.split("<h2>Mistakes the class makes</h2>")[1].split("<h2>")[0]
    assert mistakes.index("grad_overwritten") < mistakes.index("not_divided_by_batch")
    assert "use += so gradients" in mistakes  # the diagnosis in the words the students read


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(chromium() is None, reason="no headless Chromium here (apt-get install chromium)")
def test_report_renders_in_a_browser(graded, tmp_path):
    page = tmp_path / "report.html"
    report(graded, page)
    shot = tmp_path / "report.png"
    subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120)
    assert shot.is_file(), "Chromium wrote no screenshot"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert pixels.shape[:2] == (2400, 1280)
    # Not blank: a good share of the page is drawn (text, bars, tables), in several colours.
    drawn = (pixels.min(axis=2) < 200).mean()
    assert drawn > 0.03, f"only {drawn:.1%} of the page is drawn"
    reds = ((pixels[..., 0] > 180) & (pixels[..., 1] < 110) & (pixels[..., 2] < 120)).mean()
    teals = ((pixels[..., 0] < 40) & (pixels[..., 1] > 100) & (pixels[..., 2] > 120)).mean()
    assert reds > 0.001 and teals > 0.001, "the figures' bars are not on the page"
