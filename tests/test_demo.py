"""`make demo`: the whole course on this machine, through nbgrader autograde."""
from autograder import manifest
from autograder.course_demo import run


def test_the_demo_releases_grades_and_writes_feedback(tmp_path):
    lines = []
    rows = {student: (scores, total) for student, scores, total in run(tmp_path, say=lines.append)}
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
        assert list((tmp_path / "course" / "feedback" / student / "modules").glob("*.html")), student
    html = (tmp_path / "course" / "feedback" / "bob" / "modules" / "modules.html").read_text()
    assert "overwritten instead of accumulated" in html
    assert any("alice" in line and "143/143" in line for line in lines)
