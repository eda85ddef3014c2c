"""The instructor's day in a real JupyterLab, driven in headless Chromium: the README's commands
(`autograder lab COURSE`, Nbgrader > Formgrader, Manual Grading, Generate Feedback) on the demo
course, with every request that would leave the machine blocked, so the math must render offline."""
import re
import shutil
import sys
import time

COMMENT = "Right: dL/dW = gradOutput^T X, summed over the batch."


def formgrader(page):
    """Nbgrader > Formgrader, as the README says; the formgrader's frame inside JupyterLab."""
    page.get_by_role("menuitem", name="Nbgrader").click()
    page.get_by_role("menuitem", name="Formgrader", exact=True).click()
    return page.frame_locator("iframe").first


def wait_for_manual_score(lab, grade_id, student, score, timeout=30):
    """Formgrader saves a score when the field loses focus: wait until the gradebook has it."""
    from nbgrader.api import Gradebook

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Gradebook(f"sqlite:///{lab.root / 'gradebook.db'}") as gradebook:
            grade = gradebook.find_grade(grade_id, "modules", "modules", student)
            if grade.manual_score == score:
                return grade
        time.sleep(0.5)
    raise AssertionError(f"formgrader did not save {grade_id} = {score} for {student}")


def test_instructor_hand_grades_bob_in_formgrader_and_sends_feedback_with_offline_math(
        demo_course, jupyterlab, page, shot, tmp_path):
    started = time.monotonic()
    course = shutil.copytree(demo_course.course, tmp_path / "course")
    lab = jupyterlab(course, command=[sys.executable, "-m", "autograder", "lab", course])

    page.goto(lab.url("lab"))
    frame = formgrader(page)
    frame.get_by_role("link", name="Manual Grading").click()
    frame.locator("a[href$='/formgrader/gradebook/modules']").click()  # the assignment
    frame.locator("a[href$='/formgrader/gradebook/modules/modules']").click()  # its notebook
    frame.get_by_role("link", name="Submission #1").wait_for()  # the table is filled in by a script
    frame.get_by_role("button", name="Show All Names").click()
    shot("formgrader-submissions")
    frame.get_by_role("link", name="bob", exact=True).click()

    # the autograded feedback of Linear, right under its grade cell
    linear = frame.locator(".nbgrader_cell", has=frame.locator("code", has_text="grade_Linear"))
    linear.scroll_into_view_if_needed()
    feedback = frame.locator("h2", has_text="Linear: 10 / 11")
    assert "overwritten instead of accumulated" in feedback.locator("xpath=..").inner_text()
    assert frame.locator("input#grade_Linear").get_attribute("placeholder") == "10"  # the autograded score
    shot("formgrader-linear-feedback")
    assert frame.locator("mjx-container").count() > 10  # the lesson's formulas, rendered by MathJax 3

    # hand-grade the derivation of Linear
    score = frame.locator("input#derivation_Linear")
    score.fill("2.5")
    score.press("Tab")
    comment = frame.locator("textarea#derivation_Linear-comment")
    comment.fill(COMMENT)
    comment.press("Tab")
    comment.scroll_into_view_if_needed()
    wait_for_manual_score(lab, "derivation_Linear", "bob", 2.5)
    shot("formgrader-derivation-graded")

    # Manage Assignments > Generate Feedback
    before = (course / "feedback" / "bob" / "modules" / "modules.html").stat().st_mtime
    frame.get_by_role("link", name="Manual Grading").click()  # back from the submission
    frame.get_by_role("link", name="Manage Assignments").click()
    frame.locator("tr", has=frame.get_by_role("link", name="modules", exact=True)).locator(
        "td.generate-feedback a").first.click()
    shot("generate-feedback")
    html = course / "feedback" / "bob" / "modules" / "modules.html"
    frame.get_by_text("Successfully generated feedback").wait_for(timeout=180_000)
    shot("feedback-generated")
    assert html.stat().st_mtime > before, "Generate Feedback wrote no new feedback for bob"

    # the student's feedback, opened from disk as a student would, with no network
    page.goto(html.as_uri())
    page.wait_for_selector("mjx-container", timeout=60_000)
    derivation = page.locator(".nbgrader_cell", has_text=COMMENT).first
    derivation.scroll_into_view_if_needed()
    text = derivation.inner_text()
    assert re.search(r"Score:\s*2\.5\s*/\s*3", text) and COMMENT in text, text
    assert page.locator("mjx-container").count() > 10
    assert "Not graded yet" in page.content()  # the derivations nobody graded yet
    shot("feedback-derivation")
    assert page.outside_requests == [], page.outside_requests
    print(f"instructor browser test: {time.monotonic() - started:.1f} s")
