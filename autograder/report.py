"""The class report: ``autograder report ASSIGNMENT`` writes one self-contained HTML page.

What an instructor wants to see after grading: how the scores are spread, which items the
class finds hard, which mistakes it makes (the graders' diagnoses, counted once per student),
and whom to follow up. The figures are drawn with matplotlib (Agg) and embedded as PNG, so
the page is one file that opens anywhere, offline.
"""
import base64
import html
import io
import os
import statistics
from collections import Counter
from datetime import datetime
from pathlib import Path

from .diagnoses import DIAGNOSES
from .export import gradebook_in, load_grades, readable
from .i18n import fill
from .manifest import ALL_OR_NOTHING

# Not a mistake: no answer to judge (a missing class, a stub, an untouched final model)
NOT_ATTEMPTED = {"missing", "not_implemented", "unreadable", "model_missing"}
GRADING_TROUBLE = {"grader_error", "crashed", "timeout", "sandbox"}
WHOLE_ITEMS_HINT = (
    '<p class="hint">This course counts an item’s points, its hand-graded derivation’s included, only when its code '
    "passes every test: the totals, the means and the full marks below count only such items. “Not counted” is the "
    "number of students who lost points that way (tests passed, or a derivation graded, while another test of the "
    "item failed).</p>")
COLOURS = {"low": "#d1495b", "mid": "#edae49", "high": "#00798c", "neutral": "#30638e", "grey": "#8d99ae"}


def _figure_png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.spines.top": False, "axes.spines.right": False,
                         "axes.titleweight": "bold", "axes.titlesize": 11})
    return plt


def _level(fraction):
    return COLOURS["low"] if fraction < 0.5 else COLOURS["mid"] if fraction < 0.8 else COLOURS["high"]


# -- the numbers -------------------------------------------------------------------------------------

def item_statistics(grades):
    """Per item: mean points, share of full marks, students who did not attempt it, and its
    mistakes (diagnosis -> number of students)."""
    graded = [r for r in grades.records if r.total is not None]
    stats = {}
    for item in grades.columns:
        scores = [r.scores[item] for r in graded if r.scores.get(item) is not None]
        maximum = grades.max_scores[item]
        mistakes, not_attempted = Counter(), 0
        for record in graded:
            found = {d.diagnosis for d in record.diagnoses if d.item == item}
            if found & NOT_ATTEMPTED and not record.scores.get(item):
                not_attempted += 1
            mistakes.update(found - NOT_ATTEMPTED)
        stats[item] = {
            "max": maximum,
            "mean": statistics.fmean(scores) if scores else 0.0,
            "fraction": (statistics.fmean(scores) / maximum) if scores and maximum else 0.0,
            "full": sum(s >= maximum for s in scores),
            "n": len(scores),
            "not_attempted": not_attempted,
            "mistakes": mistakes,
            "pending": sum(item in r.pending for r in graded),
            "not_counted": sum(item in r.not_counted for r in graded),
        }
    return stats


def graded_maximum(record, grades):
    """The points a student's total is out of so far: the answers not graded yet left out."""
    return record.max_score - sum(grades.max_scores.get(c, 0.0) for c in record.pending)


def unattempted_by_all(grades):
    """Items no graded student attempted (e.g. a notebook the instructor did not collect): a note
    for the class, not a reason to follow up every student."""
    stats = item_statistics(grades)
    return [item for item, s in stats.items() if s["n"] and s["not_attempted"] == s["n"]]


def follow_up(grades, threshold=0.5):
    """Students to follow up, each with the reasons, lowest total first: could not be graded,
    total under ``threshold`` of the maximum, items left unattempted, cells that fail when run top
    to bottom, code that hung or crashed the worker, and tests the grader could not complete."""
    rows = []
    nobody = set(unattempted_by_all(grades))
    for record in grades.records:
        reasons = []
        if record.total is None:
            reasons.append("no submission")
        else:
            if record.error:
                reasons.append(f"could not be graded: {str(record.error).splitlines()[0]}")
            maximum = graded_maximum(record, grades)
            fraction = record.total / maximum if maximum else 1.0
            if fraction < threshold and not record.error:
                reasons.append(f"total under {threshold:.0%}")
            unattempted = [item for item in grades.columns
                           if item not in nobody and not record.scores.get(item)
                           and any(d.item == item and d.diagnosis in NOT_ATTEMPTED for d in record.diagnoses)]
            if unattempted and not record.error:
                reasons.append(f"not attempted: {', '.join(unattempted)}")
            if record.failed_cells:
                reasons.append(f"{record.failed_cells} cell(s) fail when run top to bottom")
            trouble = Counter(d.diagnosis for d in record.diagnoses if d.diagnosis in GRADING_TROUBLE)
            for diagnosis, count in sorted(trouble.items()):
                label = {"grader_error": "grader could not complete", "crashed": "worker crashed",
                         "timeout": "timed out", "sandbox": "could not run"}[diagnosis]
                reasons.append(f"{label} ({count} test{'s' if count > 1 else ''})")
        if reasons:
            rows.append((record, reasons))
    return sorted(rows, key=lambda row: (row[0].total if row[0].total is not None else -1, row[0].student))


# -- the figures -------------------------------------------------------------------------------------

def figure_totals(grades):
    plt = _pyplot()
    totals = [r.total for r in grades.records if r.total is not None]
    maximum = grades.max_total or 1
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    bins = [maximum * i / 20 for i in range(21)]
    counts, edges, patches = ax.hist(totals, bins=bins, color=COLOURS["neutral"], edgecolor="white")
    for patch, left in zip(patches, edges[:-1]):
        patch.set_facecolor(_level(left / maximum))
    if totals:
        median = statistics.median(totals)
        ax.axvline(median, color="#222", linestyle="--", linewidth=1, label=f"median {median:g}")
        ax.legend(loc="upper left", frameon=False)
    ax.set_xlim(0, maximum * 1.02)
    ax.set_xlabel(f"total points (out of {maximum:g})")
    ax.set_ylabel("students")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"Distribution of total scores ({len(totals)} students)")
    return _figure_png(fig)


def figure_items(grades, stats):
    plt = _pyplot()
    items = list(grades.columns)
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(items) + 1.0))
    fractions = [stats[i]["fraction"] * 100 for i in items]
    bars = ax.barh(items, fractions, color=[_level(f / 100) for f in fractions])
    for bar, item in zip(bars, items):
        s = stats[item]
        ax.text(min(bar.get_width(), 100) + 1, bar.get_y() + bar.get_height() / 2,
                f"{s['mean']:.1f} / {s['max']:g}", va="center", fontsize=8.5)
    ax.invert_yaxis()
    ax.set_xlim(0, 112)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("mean score, % of the item's points")
    ax.axvline(50, color="#bbb", linewidth=0.8, zorder=0)
    ax.axvline(80, color="#bbb", linewidth=0.8, zorder=0)
    ax.set_title("Mean score per item")
    return _figure_png(fig)


def top_mistakes(stats, limit=15):
    pairs = [(count, item, diagnosis) for item, s in stats.items() for diagnosis, count in s["mistakes"].items()]
    return sorted(pairs, key=lambda p: (-p[0], p[1], p[2]))[:limit]


def figure_mistakes(grades, stats, limit=15):
    plt = _pyplot()
    pairs = top_mistakes(stats, limit)
    n = sum(r.total is not None for r in grades.records) or 1
    fig, ax = plt.subplots(figsize=(7.5, 0.34 * max(len(pairs), 1) + 1.0))
    if not pairs:
        ax.text(0.5, 0.5, "No mistakes diagnosed", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        labels = [f"{item}: {diagnosis.replace('_', ' ')}" for _, item, diagnosis in pairs]
        counts = [count for count, _, _ in pairs]
        bars = ax.barh(labels, counts, color=COLOURS["low"])
        for bar, count in zip(bars, counts):
            ax.text(bar.get_width() + max(counts) * 0.01, bar.get_y() + bar.get_height() / 2,
                    f"{count} ({count / n:.0%})", va="center", fontsize=8.5)
        ax.invert_yaxis()
        ax.set_xlim(0, max(counts) * 1.18)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("students")
    ax.set_title("Most frequent mistakes (diagnoses per item)")
    return _figure_png(fig)


# -- the page ------------------------------------------------------------------------------------------

STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; color: #1d1d1f;
       margin: 0; background: #f5f6f8; line-height: 1.45; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #e3e6ea; }
p.meta { color: #5f6b7a; margin: 0 0 16px; font-size: 13px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0 8px; }
.card { flex: 1 1 140px; background: #f0f3f7; border-radius: 8px; padding: 10px 14px; }
.card .value { font-size: 22px; font-weight: 600; }
.card .label { font-size: 12px; color: #5f6b7a; text-transform: uppercase; letter-spacing: .04em; }
.row { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; }
.row > div { flex: 1 1 480px; }
img { max-width: 100%; height: auto; }
img.wide { display: block; width: 820px; max-width: 100%; margin: 8px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin-top: 8px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e3e6ea; vertical-align: top; }
th { background: #f0f3f7; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { display: inline-block; height: 8px; border-radius: 4px; vertical-align: middle; margin-right: 6px; }
.low { color: #b02a3c; font-weight: 600; } .mid { color: #9a6a00; } .high { color: #00606f; }
code { background: #f0f3f7; padding: 0 4px; border-radius: 3px; font-size: 12px; }
.hint { color: #5f6b7a; font-size: 13px; }
ul.reasons { margin: 0; padding-left: 18px; }
"""


def _css_level(fraction):
    return "low" if fraction < 0.5 else "mid" if fraction < 0.8 else "high"


def render(grades, title=None, threshold=0.5, out_folder=None):
    """The report's HTML text."""
    e = html.escape
    stats = item_statistics(grades)
    graded = [r for r in grades.records if r.total is not None]
    totals = [r.total for r in graded]
    maximum = grades.max_total
    followers = follow_up(grades, threshold)
    cards = [
        ("students", f"{len(graded)}"),
        ("mean", f"{statistics.fmean(totals):.1f} / {maximum:g}" if totals else "–"),
        ("median", f"{statistics.median(totals):g} / {maximum:g}" if totals else "–"),
        ("full marks", f"{sum(t >= maximum for t in totals)}"),
        ("to follow up", f"{len(followers)}"),
    ]
    pending = sum(len(r.pending) for r in graded)
    if pending:
        cards.append(("answers not graded yet", f"{pending}"))
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title or grades.assignment)}: class report</title><style>{STYLE}</style></head><body><main>",
        f"<h1>{e(title or grades.assignment)}: class report</h1>",
        f'<p class="meta">Assignment <code>{e(grades.assignment)}</code> · {len(graded)} graded submissions from '
        f"<code>{e(str(grades.source))}</code> · {datetime.now():%Y-%m-%d %H:%M}</p>",
        '<div class="cards">' + "".join(f'<div class="card"><div class="value">{e(v)}</div>'
                                         f'<div class="label">{e(k)}</div></div>' for k, v in cards) + "</div>",
    ]
    if not graded:
        parts += ["<p>No graded submissions were found.</p></main></body></html>"]
        return "\n".join(parts)
    whole_items = grades.scoring == ALL_OR_NOTHING
    parts += [
        "<h2>Scores</h2>",
        *([WHOLE_ITEMS_HINT] if whole_items else []),
        f'<img class="wide" alt="Distribution of total scores" src="data:image/png;base64,{figure_totals(grades)}">',
        "<h2>Items</h2>",
        '<p class="hint">Mean score per item as a share of its points: red under 50%, amber under 80%. '
        "“Not attempted” counts missing classes and methods that still raise NotImplementedError; "
        "“not graded yet”, hand-graded answers nobody has graded (left out of the mean, not counted as 0).</p>",
        f'<img class="wide" alt="Mean score per item" src="data:image/png;base64,{figure_items(grades, stats)}">',
        "<table><thead><tr><th>item</th><th class='num'>mean</th><th class='num'>full marks</th>"
        "<th class='num'>not attempted</th>" + ("<th class='num'>not graded yet</th>" if pending else "")
        + ("<th class='num'>not counted</th>" if whole_items else "")
        + "<th>most frequent mistake</th></tr></thead><tbody>",
    ]
    for item in grades.columns:
        s = stats[item]
        top = s["mistakes"].most_common(1)
        mistake = f"{e(top[0][0].replace('_', ' '))} ({top[0][1]})" if top else "–"
        parts.append(
            f"<tr><td>{e(item)}</td><td class='num {_css_level(s['fraction'])}'>{s['mean']:.1f} / {s['max']:g}</td>"
            f"<td class='num'>{s['full']} / {s['n']}</td><td class='num'>{s['not_attempted'] or ''}</td>"
            + (f"<td class='num'>{s['pending'] or ''}</td>" if pending else "")
            + (f"<td class='num'>{s['not_counted'] or ''}</td>" if whole_items else "") + f"<td>{mistake}</td></tr>")
    parts += ["</tbody></table>"]
    nobody = unattempted_by_all(grades)
    if nobody:
        parts.append(f'<p class="hint">No student attempted {", ".join(e(i) for i in nobody)} (was its notebook '
                     "collected?); it is left out of the reasons to follow up students.</p>")

    pairs = top_mistakes(stats)
    parts += [
        "<h2>Mistakes the class makes</h2>",
        '<p class="hint">The graders’ diagnoses of failed tests, counted once per student and item; '
        "unattempted work is left out.</p>",
        f'<img class="wide" alt="Most frequent mistakes" src="data:image/png;base64,{figure_mistakes(grades, stats)}">',
    ]
    if pairs:
        parts.append("<table><thead><tr><th>item</th><th>diagnosis</th><th class='num'>students</th>"
                     "<th>what the student is told</th></tr></thead><tbody>")
        n = len(graded)
        for count, item, diagnosis in pairs:
            parts.append(f"<tr><td>{e(item)}</td><td><code>{e(diagnosis)}</code></td>"
                         f"<td class='num'>{count} ({count / n:.0%})</td>"
                         f"<td>{e(fill(DIAGNOSES.get(diagnosis, '')))}</td></tr>")
        parts.append("</tbody></table>")

    parts += [
        "<h2>Students to follow up</h2>",
        f'<p class="hint">A total under {threshold:.0%}, a submission that could not be graded, unattempted items, '
        "cells that fail when the notebook runs top to bottom, or code that hung or crashed. "
        "Lowest total first.</p>",
    ]
    if not followers:
        parts.append("<p>Nobody: every submission was graded without trouble and scored at least "
                     f"{threshold:.0%}.</p>")
    else:
        parts.append("<table><thead><tr><th>student</th><th class='num'>total</th><th>why</th>"
                     "<th>feedback</th></tr></thead><tbody>")
        for record, reasons in followers:
            if record.total is None:
                total = "–"
            else:
                fraction = record.total / record.max_score if record.max_score else 0
                total = (f"<span class='{_css_level(fraction)}'>{record.total:g} / {record.max_score:g}</span>"
                         f" ({fraction:.0%})")
            link = "–"
            if record.folder is not None and (record.folder / "feedback.md").is_file():
                target = record.folder / "feedback.md"
                href = os.path.relpath(target, out_folder) if out_folder else str(target)
                link = f'<a href="{e(Path(href).as_posix())}">feedback.md</a>'
            parts.append(f"<tr><td>{e(record.student)}</td><td class='num'>{total}</td>"
                         f"<td><ul class='reasons'>{''.join(f'<li>{e(r)}</li>' for r in reasons)}</ul></td>"
                         f"<td>{link}</td></tr>")
        parts.append("</tbody></table>")
    if grades.warnings:
        parts += ["<h2>Notes</h2><ul>"] + [f"<li>{e(w)}</li>" for w in grades.warnings] + ["</ul>"]
    parts.append("</main></body></html>")
    return "\n".join(parts)


def write_report(assignment, results="graded", out=None, threshold=0.5, gradebook=None):
    """Write the report for the results in ``results`` (results folders, or a course folder with
    nbgrader's gradebook), or for ``gradebook``; by default beside them. Returns its path."""
    from .results import write_atomic

    grades = load_grades(assignment, results, gradebook)
    gradebook = gradebook or gradebook_in(results)
    out = Path(out or (Path(gradebook).parent if gradebook else Path(results)) / "report.html")
    write_atomic(out, render(grades, assignment.title, threshold, out_folder=out.parent))
    readable(out)
    return out
