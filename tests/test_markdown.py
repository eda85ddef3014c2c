"""Student text in Markdown feedback renders as text, never as HTML or a link."""
import re

import pytest

from autograder.markdown import block, name, sanitize
from autograder.results import SubmissionResult, feedback_markdown, item_feedback

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "```\n<img src=x onerror=alert(1)>\n```",
    "````\n</pre><img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "~~~\n<svg onload=alert(1)>",
    "`<b>x</b>`",
]


def outside_code(markdown):
    """The lines of ``markdown`` a renderer would treat as prose (outside closed fenced blocks)."""
    lines, inside, fence = [], False, None
    for line in markdown.split("\n"):
        match = re.match(r" {0,3}(`{3,}|~{3,})\s*$", line) if inside else re.match(r"(`{3,}|~{3,})", line)
        if not inside and match:
            inside, fence = True, match.group(1)
            continue
        if inside and match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
            inside = False
            continue
        if not inside:
            lines.append(line)
    return "\n".join(lines)


@pytest.mark.parametrize("text", HOSTILE)
def test_a_block_cannot_be_closed_by_its_text(text):
    made = block(text)
    fence = made.split("\n")[0]
    assert made == f"{fence}\n{text}\n{fence}"
    assert not any(line.strip() == fence or (line.startswith(fence) and not line.strip("`"))
                   for line in text.split("\n"))
    assert "<" not in outside_code(sanitize("Linear.forward raised:\n\n" + made))


@pytest.mark.parametrize("text", HOSTILE)
def test_sanitize_leaves_no_tag_or_link_outside_code(text):
    for markdown in (text, f"- **title**: {text}", f"prose {text} more\n\n{block('fine')}\n\n{text}"):
        prose = outside_code(sanitize(markdown))
        assert "<" not in prose and ">" not in prose
        assert "](" not in prose


def test_sanitize_keeps_code_blocks_and_is_idempotent():
    markdown = "x < 0 only\n\n" + block("a = b[c < 0]\nprint('<ok>')")
    once = sanitize(markdown)
    assert "print('<ok>')" in once and "x &lt; 0 only" in once
    assert sanitize(once) == once


def test_names_are_code_only_when_identifiers():
    assert name("Sequential.__getitem__") == "`Sequential.__getitem__`"
    assert name("Linear(...)") == "`Linear(...)`"
    assert name("<img src=x>") == "&lt;img src=x&gt;"
    assert name("a`b *c*") == "a\\`b \\*c\\*"
    assert "<" not in sanitize(name("<svg onload=alert(1)>")) and "](" not in name("[x](javascript:y)")


def test_feedback_with_hostile_messages_renders_no_html():
    results = SubmissionResult.from_json({
        "score": 0, "max_score": 1, "output": "",
        "tests": [{"name": "Linear: forward", "status": "failed", "tags": ["Linear"], "output": text, "score": 0,
                   "max_score": 1, "extra_data": {"test": "forward", "diagnosis": "raised"}} for text in HOSTILE],
        "extra_data": {"assignment": "modules", "items": {"Linear": {"score": 0, "max_score": 1}},
                       "error": "<img src=x onerror=alert(1)>.ipynb could not be read",
                       "cells": [{"name": "cell 1", "ok": False, "error": "ValueError: <script>alert(1)</script>"}]},
    })
    for markdown in (feedback_markdown(results), "\n".join(item_feedback(results, "Linear"))):
        prose = outside_code(markdown)
        assert "<" not in prose and "](" not in prose
