"""Self-checks for your modules: shapes, finite-difference gradients and a few properties.

Run them from the notebook after writing each module, for example::

    from selfcheck import check_layer, check_criterion, property_check
    check_layer(Linear(4, 3), input_shape=(5, 4))
    check_criterion(MSECriterion(), input_shape=(5, 3), target=np.zeros((5, 3)))

Each prints a table, one row per check: ``ok``, ``FAIL`` or ``not implemented yet``. When
your code raises an exception, the check stops with a row that says what was raised, in
which method and line, and the shapes of the arrays that method was working with.
``layer_table``, ``criterion_table`` and ``property_table`` run the same checks without
printing; their ``passed`` says whether every check passed.

The gradient checks compare your backward pass with the slope of your own forward pass,
measured by central finite differences: (f(x + h) - f(x - h)) / 2h for each element. They
do not know the right answers, so a forward pass that is wrong but consistent with its
backward passes here; the hidden grader checks the values themselves.
"""
import inspect
import linecache
import os
import sys
import textwrap
import traceback
from pathlib import Path

import numpy as np

H = 1e-5
TOLERANCE = 1e-5
# The language of every message below. A course in another language ships this file with its own
# value here (the course profile generator sets it); a message it lacks is said in English.
LANGUAGE = "en"
MESSAGES = {
    "en": {
        "ok": "ok", "fail": "FAIL", "stub": "not implemented yet",
        "all passed": "  -> all checks passed",
        "write missing": "  -> write the missing methods, then run this check again",
        "see failures": "  -> see the lines marked FAIL",
        "your code": "your code",
        "raised": "raised {kind}: {error}",
        "in": "in {where}",
        "shapes": "shapes: ",
        "could not go on": "the check could not go on",
        "returned None output": "returned None: return the output",
        "returns an array": "forward returns an array",
        "type": "type {name}",
        "finite": "output is finite",
        "shape": "shape {shape}",
        "returned None grad": "returned None: return gradInput",
        "grad input shape": "gradInput has the input's shape",
        "expected got": "expected {expected}, got {got}",
        "input unchanged": "input left unchanged",
        "must not modify": "forward/backward must not modify input",
        "grad input fd": "gradInput vs finite differences",
        "relative error": "relative error {error:.1e}",
        "param fd": "parameter {number} gradient vs finite differences",
        "params arrays": "the parameters must be arrays, got {name}",
        "shape mismatch": "shape {got} != {expected}",
        "one number": "forward returns one number",
        "got size": "got {name} of size {size}",
        "grad shape": "gradient has the input's shape",
        "grad fd": "gradient vs finite differences",
        "repeated batch": "forward on the batch repeated twice",
        "average": "loss is an average over the batch",
        "average detail": "repeating the batch twice must not change the loss",
        "no pairs": "returned no (description, passed) pairs",
        "layer title": "Self-check of {name} on an input of shape {shape}",
        "not defined": "{name} is not defined: write or run the cell that defines it (and fix the error it shows, "
                       "if any).",
        "not written": "{name} is not written yet: it still raises NotImplementedError.",
        "not finished 1": "{name} is not finished: {stubs} still raises NotImplementedError.",
        "not finished n": "{name} is not finished: {stubs} still raise NotImplementedError.",
        "all written": "{title}: all {total} written.",
        "some written": "{title}: {written} of {total} written.",
        "written": "written", "still stubs": "still stubs", "undefined": "not defined",
        "run modules": "  -> run modules.ipynb from top to bottom, fix its first error, then re-run the %run cell "
                       "above",
    },
    "ru": {
        "ok": "ok", "fail": "ОШИБКА", "stub": "ещё не написано",
        "all passed": "  -> все проверки пройдены",
        "write missing": "  -> допишите недостающие методы и запустите проверку ещё раз",
        "see failures": "  -> смотрите строки с пометкой ОШИБКА",
        "your code": "ваш код",
        "raised": "выброшено исключение {kind}: {error}",
        "in": "в {where}",
        "shapes": "формы массивов: ",
        "could not go on": "проверку не удалось продолжить",
        "returned None output": "вернул None: метод должен возвращать выход слоя",
        "returns an array": "forward возвращает массив",
        "type": "тип {name}",
        "finite": "выход конечен (нет inf и nan)",
        "shape": "форма {shape}",
        "returned None grad": "вернул None: метод должен возвращать градиент по входу",
        "grad input shape": "градиент по входу имеет ту же форму, что и вход",
        "expected got": "ожидалась форма {expected}, получена {got}",
        "input unchanged": "вход не изменился",
        "must not modify": "forward и backward не должны изменять input",
        "grad input fd": "градиент по входу совпадает с конечными разностями",
        "relative error": "относительная погрешность {error:.1e}",
        "param fd": "градиент параметра {number} совпадает с конечными разностями",
        "params arrays": "параметры должны быть массивами NumPy, а получен {name}",
        "shape mismatch": "форма {got} != {expected}",
        "one number": "forward возвращает одно число",
        "got size": "получен {name} размера {size}",
        "grad shape": "градиент имеет ту же форму, что и вход",
        "grad fd": "градиент совпадает с конечными разностями",
        "repeated batch": "forward на батче, повторённом дважды",
        "average": "функция потерь усреднена по батчу",
        "average detail": "если повторить батч дважды, значение функции потерь не должно измениться",
        "no pairs": "функция проверок не вернула ни одной пары (описание, пройдено)",
        "layer title": "Самопроверка {name} на входе формы {shape}",
        "not defined": "{name} не определён: напишите или запустите ячейку, где он определяется (и исправьте "
                       "ошибку, если она есть).",
        "not written": "{name} ещё не написан: он по-прежнему выбрасывает NotImplementedError.",
        "not finished 1": "{name} не дописан: {stubs} по-прежнему выбрасывает NotImplementedError.",
        "not finished n": "{name} не дописан: {stubs} по-прежнему выбрасывают NotImplementedError.",
        "all written": "{title}: написаны все ({total}).",
        "some written": "{title}: написано {written} из {total}.",
        "written": "написано", "still stubs": "заглушки", "undefined": "не определено",
        "run modules": "  -> запустите modules.ipynb сверху вниз, исправьте первую ошибку и снова запустите ячейку "
                       "с %run выше",
    },
}


def say(key, **values):
    """The message ``key`` in the course's language (English where that language lacks it)."""
    return MESSAGES.get(LANGUAGE, {}).get(key, MESSAGES["en"][key]).format(**values)


def _results():
    return {True: say("ok"), False: say("fail"), None: say("stub")}
_NUMPY = str(Path(np.__file__).parent)  # frames inside NumPy are not where the student's code went wrong
_MAX_SHAPES = 10


class CheckTable:
    """The rows of one self-check: (what was checked, True / False / None for a stub, detail)."""

    def __init__(self, title):
        self.title, self.rows = title, []

    def add(self, check, ok, detail=""):
        self.rows.append((check, ok, str(detail)))
        return ok

    @property
    def passed(self):
        """True when there are rows and every one of them passed."""
        return bool(self.rows) and all(ok is True for _, ok, _ in self.rows)

    def show(self):
        """Print the table and one closing line that says what to do next."""
        print(self.title)
        width = max((len(check) for check, _, _ in self.rows), default=0)
        for check, ok, detail in self.rows:
            first, *more = detail.split("\n")
            print(f"  {check:<{width}}  {_results()[ok]:<19}  {first}".rstrip())
            for line in more:
                print(" " * (width + 25) + line)
        if self.passed:
            print(say("all passed"))
        elif any(ok is None for _, ok, _ in self.rows):
            print(say("write missing"))
        else:
            print(say("see failures"))


class _Stop(Exception):
    """Ends a check early; why is already a row of its table."""


# -- the student's code, called so that whatever it raises becomes a row ----------------------

def _step(table, check, function, *args):
    """``function(*args)``: the student's code. A stub (NotImplementedError) or any other
    exception ends the check with one row named ``check`` (by default, the method that raised),
    never with a traceback through this file."""
    try:
        return function(*args)
    except NotImplementedError as error:
        table.add(check or _where(_student_frame(error)[0]), None)
    except Exception as error:  # noqa: BLE001 - whatever the student's code raises is reported
        table.add(check or _where(_student_frame(error)[0]), False, _explain(error))
    raise _Stop


def _student_frame(error):
    """The innermost frame of the traceback that is neither this file nor NumPy's (where the
    student's code was when it raised), with the text of its line."""
    found = (None, "")
    for frame, number in traceback.walk_tb(error.__traceback__):
        if frame.f_globals is globals() or frame.f_code.co_filename.startswith(_NUMPY):
            continue
        found = (frame, linecache.getline(frame.f_code.co_filename, number).strip())
    return found


def _where(frame):
    """``Class.method`` (the class of the object it ran on) or the function's name."""
    if frame is None:
        return say("your code")
    owner = frame.f_locals.get("self")
    name = frame.f_code.co_name
    return f"{type(owner).__name__}.{name}" if owner is not None else name


def _shapes(variables):
    """``name (shape)`` for the arrays among a frame's variables, then among its object's attributes."""
    arrays = [(name, value) for name, value in variables.items() if isinstance(value, np.ndarray)]
    owner = getattr(variables.get("self"), "__dict__", {})
    arrays += [(f"self.{name}", value) for name, value in owner.items() if isinstance(value, np.ndarray)]
    return [f"{name} {value.shape}" for name, value in arrays[:_MAX_SHAPES]]


def _wrap(items, first, width=90):
    """``first`` and the items joined by commas, in lines of at most ``width``, never inside an item."""
    lines, line = [], first
    for item in items:
        if len(line) + len(item) + 2 > width and line.strip():
            lines.append(line.rstrip())
            line = "  "
        line += item + ", "
    return lines + [line.rstrip(", ")]


def _explain(error):
    """What the student's code raised, in which method and line, and the shapes at hand there."""
    frame, line = _student_frame(error)
    lines = [say("raised", kind=type(error).__name__, error=error).strip()]
    if frame is not None:
        lines.append(say("in", where=_where(frame)) + (f": {line}" if line else ""))
        shapes = _shapes(frame.f_locals)
        if shapes:
            lines += _wrap(shapes, say("shapes"))
    return "\n".join(lines)


def _params(table, module):
    """Parameters and a function that gives their gradients, as flat lists, whatever the API."""
    for getter, grad_getter in [("getParameters", "getGradParameters"), ("get_parameters", "get_grad_params"),
                                ("get_parameters", "get_parameters_grad")]:
        if hasattr(module, getter) and hasattr(module, grad_getter):
            params = _flat(_step(table, getter, getattr(module, getter)))
            return params, (lambda: _flat(_step(table, grad_getter, getattr(module, grad_getter))))
    return [], (lambda: [])


def _zero(table, module):
    for name in ("zeroGradParameters", "zero_grad_params", "zero_grad"):
        if hasattr(module, name):
            return _step(table, name, getattr(module, name))


def _flat(items):
    if isinstance(items, (list, tuple)):
        return [leaf for item in items for leaf in _flat(item)]
    return [items]


def _finite(array):
    try:
        return bool(np.all(np.isfinite(array)))
    except TypeError:  # not numbers at all
        return False


# -- numbers --------------------------------------------------------------------------------------

def relative_error(a, b):
    """max |a - b| / max(1, |a|, |b|): small numbers count as absolute, large ones as relative."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.maximum(np.abs(a), np.abs(b))))) if a.size else 0.0


def numerical_gradient(f, x, h=H):
    """d f(x) / dx for a scalar f, one element at a time (x is changed and restored)."""
    grad = np.zeros_like(x, dtype=float)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        plus = f()
        x[index] = old - h
        minus = f()
        x[index] = old
        grad[index] = (plus - minus) / (2 * h)
    return grad


# -- the checks -----------------------------------------------------------------------------------

def _run(table, checks, *args):
    """Fill ``table`` by ``checks(table, *args)``; an exception that escapes a step still ends as a row."""
    try:
        checks(table, *args)
    except _Stop:
        pass
    except Exception as error:  # noqa: BLE001 - e.g. the student's code returned something unusable
        table.add(say("could not go on"), False, _explain(error))
    return table


def _layer_checks(table, layer, input_shape, seed, training):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(input_shape)
    x = np.where(np.abs(x) < 0.05, 0.05 * np.sign(x + 1e-12) + x, x)  # away from kinks at 0
    mode = "train" if training else "evaluate"
    if hasattr(layer, mode):
        _step(table, mode, getattr(layer, mode))
    x_before = x.copy()

    def forward():
        np.random.seed(seed)  # the same Dropout mask at every call
        return _step(table, "forward", layer.forward, x)

    out = forward()
    if out is None:
        table.add("forward", False, say("returned None output"))
        return
    if not table.add(say("returns an array"), isinstance(out, np.ndarray), say("type", name=type(out).__name__)):
        return
    table.add(say("finite"), _finite(out), say("shape", shape=out.shape))
    g = rng.standard_normal(out.shape)
    params, grads = _params(table, layer)
    _zero(table, layer)
    forward()
    grad_input = _step(table, "backward", layer.backward, x, g)
    if grad_input is None:
        table.add("backward", False, say("returned None grad"))
        return
    ok = np.shape(grad_input) == x.shape
    table.add(say("grad input shape"), ok, say("expected got", expected=x.shape, got=np.shape(grad_input)))
    table.add(say("input unchanged"), np.array_equal(x, x_before), say("must not modify"))
    if ok:
        numeric = numerical_gradient(lambda: float(np.sum(forward() * g)), x)
        error = relative_error(grad_input, numeric)
        table.add(say("grad input fd"), error < TOLERANCE, say("relative error", error=error))
    for number, (param, grad) in enumerate(zip(params, grads())):
        name = say("param fd", number=number)
        if not isinstance(param, np.ndarray):
            table.add(name, False, say("params arrays", name=type(param).__name__))
            continue
        numeric = numerical_gradient(lambda: float(np.sum(forward() * g)), param)
        shape_ok = np.shape(grad) == np.shape(param)
        error = relative_error(grad, numeric) if shape_ok else float("inf")
        table.add(name, error < TOLERANCE, say("relative error", error=error) if shape_ok
                  else say("shape mismatch", got=np.shape(grad), expected=np.shape(param)))


def _criterion_checks(table, criterion, input_shape, target, seed, positive):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.05, 0.95, input_shape) if positive else rng.standard_normal(input_shape)
    loss = _step(table, "forward", criterion.forward, x, target)
    table.add(say("one number"), np.size(loss) == 1, say("got size", name=type(loss).__name__, size=np.size(loss)))
    grad = _step(table, "backward", criterion.backward, x, target)
    ok = grad is not None and np.shape(grad) == x.shape
    table.add(say("grad shape"), ok, say("expected got", expected=x.shape, got=np.shape(grad)))
    if ok and np.size(loss) == 1:
        numeric = numerical_gradient(lambda: float(np.sum(_step(table, "forward", criterion.forward, x, target))), x)
        error = relative_error(grad, numeric)
        table.add(say("grad fd"), error < TOLERANCE, say("relative error", error=error))
        doubled = float(np.sum(_step(table, say("repeated batch"), criterion.forward,
                                     np.concatenate([x, x]), np.concatenate([target, target]))))
        table.add(say("average"), abs(doubled - float(np.sum(loss))) < 1e-8 * max(1, abs(doubled)),
                  say("average detail"))


def _property_checks(table, checks):
    results = list(_step(table, None, checks))
    if not results:
        table.add(getattr(checks, "__name__", "checks"), False, say("no pairs"))
    for description, passed in results:
        table.add(description, bool(passed))


def layer_table(layer, input_shape, seed=0, training=True):
    """Shapes and gradients of a layer (a Module) on a random input of ``input_shape``, as a
    :class:`CheckTable` that is not printed."""
    table = CheckTable(say("layer title", name=type(layer).__name__, shape=tuple(input_shape)))
    return _run(table, _layer_checks, layer, input_shape, seed, training)


def criterion_table(criterion, input_shape, target, seed=0, positive=False):
    """Value and gradient of a criterion, as a :class:`CheckTable` that is not printed.
    ``positive=True`` draws inputs in (0.05, 0.95), for probabilities."""
    table = CheckTable(say("layer title", name=type(criterion).__name__, shape=tuple(input_shape)))
    return _run(table, _criterion_checks, criterion, input_shape, target, seed, positive)


def property_table(title, checks):
    """``checks()`` returns a list of ``(description, passed)`` pairs; they become the rows of a
    :class:`CheckTable` that is not printed."""
    return _run(CheckTable(title), _property_checks, checks)


def check_layer(layer, input_shape, seed=0, training=True):
    """Print the self-check of a layer (see :func:`layer_table`). Returns nothing, so that a
    notebook cell ending with it shows only the table."""
    layer_table(layer, input_shape, seed, training).show()


def check_criterion(criterion, input_shape, target, seed=0, positive=False):
    """Print the self-check of a criterion (see :func:`criterion_table`). Returns nothing."""
    criterion_table(criterion, input_shape, target, seed, positive).show()


def property_check(title, checks):
    """Print the properties that ``checks()`` returns as ``(description, passed)`` pairs, or
    which method is not implemented yet, or what raised. Returns nothing."""
    property_table(title, checks).show()


# -- what is still to be written --------------------------------------------------------------------

def stubs_in(obj):
    """The methods of the class ``obj`` (its own, not those it inherits) that still contain
    ``raise NotImplementedError``, nbgrader's stub; for a function, ``[its name]`` if it does."""
    if isinstance(obj, type):
        functions = {name: value for name, value in vars(obj).items() if inspect.isfunction(value)}
    elif inspect.isfunction(obj):
        functions = {obj.__name__: obj}
    else:
        return []
    return [name for name, function in functions.items() if "NotImplementedError" in function.__code__.co_names]


def missing_work(name, namespace):
    """One sentence on what is missing of ``name`` in ``namespace``, or "" when nothing is."""
    if name not in namespace:
        return say("not defined", name=name)
    stubs = stubs_in(namespace[name])
    if not stubs:
        return ""
    if stubs == [name]:
        return say("not written", name=name)
    return say("not finished 1" if len(stubs) == 1 else "not finished n", name=name, stubs=", ".join(stubs))


def unfinished(name):
    """For nbgrader's Validate button: write on stderr what of ``name`` is still a stub or not
    defined, which Validate then lists as this cell's failure. Silent outside Validate (which
    sets NBGRADER_VALIDATING) and when ``name`` is written."""
    if not os.environ.get("NBGRADER_VALIDATING"):
        return
    message = missing_work(name, inspect.currentframe().f_back.f_globals)
    if message:  # in lines that `nbgrader validate` prints whole (it cuts lines at 90 characters)
        print(textwrap.fill(message, width=80), file=sys.stderr)


def show_progress(title, names):
    """Print which of ``names`` (in the caller's namespace) are written, which are still stubs
    and which are not defined at all."""
    namespace = inspect.currentframe().f_back.f_globals
    written = [name for name in names if name in namespace and not stubs_in(namespace[name])]
    stubs = [name for name in names if name in namespace and stubs_in(namespace[name])]
    undefined = [name for name in names if name not in namespace]
    if len(written) == len(names):
        print(say("all written", title=title, total=len(names)))
        return
    print(say("some written", title=title, written=len(written), total=len(names)))
    lines = [(say("written"), ", ".join(written)),
             (say("still stubs"), ", ".join(stubs)),
             (say("undefined"), ", ".join(undefined))]
    for label, text in lines:
        if text:
            print(textwrap.fill(text, width=100, initial_indent=f"  {label + ':':<13}", subsequent_indent=" " * 15))
    if undefined:
        print(say("run modules"))
