"""`make demo`: the whole course on this machine, through nbgrader autograde."""
import re

from autograder import manifest


def test_the_demo_releases_grades_and_writes_feedback(demo_course):
    rows, course = demo_course.rows, demo_course.course
    assignment = manifest.load("modules")
    items = {item.grade_id: item.max_score for item in assignment.items.values()}
    assert rows["alice"][1] == assignment.max_score
    assert rows["carol"][1] == 0
    bob, dave = rows["bob"][0], rows["dave"][0]
    for grade_id in ["grade_Linear", "grade_SoftMax", "grade_LogSoftMax", "grade_Dropout"]:
        assert bob[grade_id] < items[grade_id], grade_id
    for grade_id in ["grade_BatchNormalization", "grade_Conv2d"]:
        assert dave[grade_id] < items[grade_id], grade_id
    assert bob["grade_Conv2d"] == items["grade_Conv2d"] and dave["grade_Linear"] == items["grade_Linear"]
    for student in rows:
        assert list((course / "feedback" / student / "modules").glob("*.html")), student
    html = (course / "feedback" / "bob" / "modules" / "modules.html").read_text()
    assert "overwritten instead of accumulated" in html
    assert any("alice" in line and "143/143" in line for line in demo_course.lines)


def test_the_demo_feedback_leaves_answers_nobody_graded_apart_from_zero(demo_course):
    html = (demo_course.course / "feedback" / "alice" / "modules" / "modules.html").read_text()
    # nbgrader alone shows every derivation nobody has graded as "Written response (Score: 0.0 / 3.0)"
    assert not re.search(r"Score: 0\.0 / [23]\.0", html)
    assert "Not graded yet" in html and "derivation_Linear" in html


def test_the_demo_leaves_a_class_report_and_says_how_to_hand_grade(demo_course):
    report = (demo_course.course / "report.html").read_text()
    assert "4 graded submissions" in report and "answers not graded yet" in report
    text = "\n".join(demo_course.lines)
    assert "nbgrader formgrader" not in text  # nbgrader 0.9 has no such command
    assert re.search(r"autograder lab \S*course\b", text)
