"""Markdown that may carry a student's text, made safe to render as HTML.

Feedback is Markdown (``feedback.md``, the grade cells' outputs that formgrader and nbgrader's
HTML feedback render, Gradescope's test outputs), and some of it comes from the submission:
exception messages, names of types, file names. Two rules keep that text from becoming HTML
or links in the instructor's or the student's browser:

1. Where it is made, a student's text goes only into a fenced code block (:func:`block`),
   whose fence is longer than any run of backticks in the text, so the text cannot close it,
   or is escaped (:func:`escape`); a name goes into inline code only when it is an
   identifier (:func:`name`).
2. Where Markdown leaves the project, :func:`sanitize` escapes every ``<`` and ``>`` outside
   fenced code blocks and breaks the ``](`` of link syntax, so that even text that reached
   prose by a path rule 1 missed renders as text; the underscores of a dunder name in prose
   (``Sequential.__getitem__ raised ...``) are escaped too, which Markdown would otherwise
   render as ``Sequential.<strong>getitem</strong>``.
"""
import re

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(\(\.\.\.\))?")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def block(text):
    """``text`` as a fenced code block that nothing in it can end."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def name(text):
    """A name from the submission: an identifier (``Linear.forward``) as inline code, anything
    else as escaped text (see :func:`escape`)."""
    text = str(text)
    return f"`{text}`" if IDENTIFIER.fullmatch(text) else escape(" ".join(text.split())[:200])


def escape(text):
    """``text`` as Markdown that renders as exactly that text: the characters Markdown gives a
    meaning to are escaped with a backslash, and ``&``, ``<`` and ``>`` become entities."""
    text = re.sub(r"([\\`*_{}\[\]()#+\-.!|~])", r"\\\1", str(text))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# A dunder name (``__getitem__``) outside inline code, and inline code spans themselves.
DUNDER = re.compile(r"(?<![\w\\])__(?=\w)(\w*?\w)__(?!\w)")
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)")


def _escape_dunders(text):
    """``__name__`` as Markdown that renders as exactly that, not as a bold ``name``."""
    return DUNDER.sub(lambda match: match.group(0).replace("_", "\\_"), text)


def _outside_code_spans(line, change):
    """``line`` with ``change`` applied to its text outside inline code spans, which render
    their text as it is and so must keep it."""
    parts, start = [], 0
    for span in CODE_SPAN.finditer(line):
        parts += [change(line[start:span.start()]), span.group(0)]
        start = span.end()
    return "".join(parts + [change(line[start:])])


def _escape_prose(line):
    line = line.replace("<", "&lt;").replace(">", "&gt;").replace("](", "]\\(")
    return _outside_code_spans(line, _escape_dunders)


def code_regions(lines):
    """``(start, end)`` line ranges of the fenced code blocks that :func:`block` makes: an opening
    fence at the start of a line, closed as CommonMark closes it. An unclosed fence is not a
    region (its text is then treated as prose, which is always safe)."""
    regions, index = [], 0
    while index < len(lines):
        opening = re.match(r"(`{3,}|~{3,})", lines[index])
        if opening:
            fence = opening.group(1)
            for end in range(index + 1, len(lines)):
                closing = FENCE.match(lines[end])
                if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence) \
                        and not lines[end][closing.end():].strip():
                    regions.append((index, end))
                    index = end
                    break
        index += 1
    return regions


def sanitize(markdown):
    """``markdown`` with no raw HTML and no link outside fenced code blocks (see the module's rules)."""
    lines = str(markdown).split("\n")
    inside = set()
    for start, end in code_regions(lines):
        inside.update(range(start + 1, end))  # the fence lines themselves are escaped like prose
    return "\n".join(line if number in inside else _escape_prose(line) for number, line in enumerate(lines))
