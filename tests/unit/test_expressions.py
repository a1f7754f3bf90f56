"""The whitelist evaluator of diagram expressions: what it computes and what it refuses."""
from __future__ import annotations

import pickle
import time
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest

from engine.runtime import expressions
from engine.runtime.expressions import FUNCTIONS, Expression, ExpressionError, UnknownName, compile_expression, evaluate, register_function

TASK_DATA = {
    "approved": True,
    "amount": 5000,
    "category": "works",
    "milestone": {"amount": Decimal("1200.50"), "name": "acceptance", "items": [1, 2, 3]},
    "suppliers": ["A", "B", "C"],
    "note": "",
}


# ------------------------------------------------------------------------------- ordinary diagrams

def test_gateway_condition_reads_task_data():
    assert evaluate("approved == True", TASK_DATA) is True
    assert evaluate("approved == False", TASK_DATA) is False


def test_condition_combines_comparison_and_membership():
    condition = "amount > 1000 and category in ['works', 'goods']"
    assert evaluate(condition, TASK_DATA) is True
    assert evaluate(condition, {**TASK_DATA, "category": "services"}) is False


def test_dotted_name_reads_a_key_of_a_record():
    assert evaluate("milestone.amount", TASK_DATA) == Decimal("1200.50")
    assert evaluate("milestone['name']", TASK_DATA) == "acceptance"
    assert evaluate("milestone.items[-1]", TASK_DATA) == 3


def test_decimal_arithmetic_is_exact():
    assert evaluate("Decimal('0.1') * 3", {}) == Decimal("0.3")
    assert evaluate("milestone.amount * 2 > 2400", TASK_DATA) is True


def test_decimal_from_a_float_keeps_its_written_value():
    assert evaluate("Decimal(0.1)", {}) == Decimal("0.1")


def test_json_style_constants_are_understood():
    assert evaluate("true and not false", {}) is True
    assert evaluate("note is not null", TASK_DATA) is True
    assert evaluate("None", {}) is None


def test_chained_comparison_and_conditional_expression():
    assert evaluate("1000 < amount <= 5000", TASK_DATA) is True
    assert evaluate("'big' if amount > 1000 else 'small'", TASK_DATA) == "big"


def test_boolean_operators_short_circuit_like_python():
    assert evaluate("false and missing", {}) is False
    assert evaluate("approved or missing", TASK_DATA) is True
    assert evaluate("note or 'default'", TASK_DATA) == "default"
    assert evaluate("'yes' if approved else missing", TASK_DATA) == "yes"


def test_literals_slices_and_arithmetic():
    assert evaluate("{'a': [1, 2], 'b': (3,)}['a'][1:]", {}) == [2]
    assert evaluate("suppliers[::-1]", TASK_DATA) == ["C", "B", "A"]
    assert evaluate("7 // 2 + 7 % 2 - 2 ** 3 / 4", {}) == 2.0
    assert evaluate("{1, 2} == {2, 1}", {}) is True
    assert evaluate("-amount + +1", TASK_DATA) == -4999


def test_builtin_functions():
    assert evaluate("len(suppliers)", TASK_DATA) == 3
    assert evaluate("min(3, 1, 2) + max([4, 5]) + abs(-1)", {}) == 7
    assert evaluate("sum(milestone.items)", TASK_DATA) == 6
    assert evaluate("round(2.675, 1)", {}) == 2.7
    assert evaluate("str(amount) + '!'", TASK_DATA) == "5000!"
    assert evaluate("int('42') + int(2.9)", {}) == 44
    assert evaluate("date('2024-03-01') < date('2024-04-01')", {}) is True
    assert evaluate("date('2024-03-01')", {}) == date(2024, 3, 1)


def test_juel_condition_from_another_modeler():
    assert evaluate("${approved && amount > 5}", TASK_DATA) is True
    assert evaluate("#{!approved || amount === 5000}", TASK_DATA) is True
    assert evaluate("${category !== 'works'}", TASK_DATA) is False
    assert evaluate("  ${ amount != 1 }  ", TASK_DATA) is True


def test_juel_translation_never_alters_string_literals():
    text = "a && !b || c === d"
    assert evaluate("${note == '' && 'a && !b || c === d' == text}", {"note": "", "text": text}) is True


def test_compiled_expression_reports_names_and_functions():
    expression = compile_expression("len(items) > limit and deadline(start) and true", ["len", "deadline"])
    assert isinstance(expression, Expression)
    assert expression.names == frozenset({"items", "limit", "start"})
    assert expression.functions == frozenset({"len", "deadline"})


def test_compiling_evaluates_nothing_and_is_cached():
    expression = compile_expression("1 / 0 + missing")
    assert compile_expression("1 / 0 + missing") is expression
    with pytest.raises(ExpressionError, match="division by zero"):
        expression.evaluate({"missing": 1})


def test_compiled_expression_calls_functions_given_at_evaluation():
    calls = []
    expression = compile_expression("probe(1)", ["probe"])
    assert calls == []
    assert expression.evaluate({}, {"probe": lambda value: calls.append(value) or "done"}) == "done"
    assert calls == [1]
    with pytest.raises(ExpressionError, match="'probe' is not available"):
        expression.evaluate({})


def test_registered_function_is_callable_from_expressions():
    @register_function("double_for_test")
    def double(value):
        return value * 2

    try:
        assert FUNCTIONS["double_for_test"] is double
        assert evaluate("double_for_test(amount)", TASK_DATA) == 10000
    finally:
        del FUNCTIONS["double_for_test"]


def test_register_function_refuses_unsafe_names():
    for name in ("_hidden", "not a name", "lambda", "true"):
        with pytest.raises(ValueError):
            register_function(name)(len)


def test_extra_functions_can_be_passed_per_evaluation():
    assert evaluate("add_days(5, 2)", {}, {"add_days": lambda start, days: start + days}) == 7


def test_function_not_granted_at_compile_time_is_refused():
    with pytest.raises(ExpressionError, match="function calls are limited to: len"):
        compile_expression("max(1, 2)", ["len"])


# ------------------------------------------------------------------------------------ errors

def test_unknown_variable_carries_its_name():
    with pytest.raises(UnknownName) as caught:
        evaluate("amount > 1000 and budget_line == 'A'", TASK_DATA)
    assert caught.value.name == "budget_line"
    assert isinstance(caught.value, ExpressionError)
    assert isinstance(caught.value, ValueError)
    assert "budget_line" in str(caught.value)


def test_unknown_name_survives_pickling():
    error = pickle.loads(pickle.dumps(UnknownName("x + 1", "x")))
    assert (error.expression, error.name) == ("x + 1", "x")


def test_error_message_names_the_expression_and_the_reason():
    with pytest.raises(ExpressionError) as caught:
        evaluate("open('/etc/passwd')", {})
    error = caught.value
    assert error.expression == "open('/etc/passwd')"
    assert error.reason.startswith("function calls are limited to: ")
    assert "open('/etc/passwd')" in str(error) and "\n" not in str(error)


@pytest.mark.parametrize("text, variables", [
    ("1 / 0", {}),
    ("amount + 'x'", TASK_DATA),
    ("Decimal('not a number')", {}),
    ("Decimal('1') / 0", {}),
    ("Decimal('1') + 0.5", {}),
    ("milestone.missing", TASK_DATA),
    ("milestone['missing']", TASK_DATA),
    ("suppliers[10]", TASK_DATA),
    ("suppliers['a']", TASK_DATA),
    ("amount.value", TASK_DATA),
    ("amount[0]", TASK_DATA),
    ("milestone[1:2]", TASK_DATA),
    ("date('1 March 2024')", {}),
    ("date('2024-13-01')", {}),
    ("int('abc')", {}),
    ("min()", {}),
    ("{[1]: 2}", {}),
    ("1e308 ** 2", {}),
])
def test_evaluation_failures_become_expression_errors(text, variables):
    with pytest.raises(ExpressionError):
        evaluate(text, variables)


def test_exception_from_a_registered_function_is_wrapped():
    def failing():
        raise RuntimeError("calendar unavailable")

    with pytest.raises(ExpressionError, match=r"failing\(\) failed: RuntimeError: calendar unavailable"):
        evaluate("failing()", {}, {"failing": failing})


def test_missing_key_lookup_does_not_grow_a_defaultdict():
    record = defaultdict(int)
    with pytest.raises(ExpressionError):
        evaluate("record.missing", {"record": record})
    assert dict(record) == {}


def test_syntax_errors_are_expression_errors():
    for text in ("", "1 +", "(1", "'unterminated", "${1 + }", "a\x00"):
        with pytest.raises(ExpressionError):
            compile_expression(text)


def test_non_string_expression_is_refused():
    with pytest.raises(ExpressionError):
        compile_expression(42)


# ----------------------------------------------------------------------------- hostile diagrams

HOSTILE = [
    "__import__('os').system('touch /tmp/x')",
    "().__class__.__base__.__subclasses__()",
    "open('/etc/passwd')",
    "eval('1')",
    "exec('x=1')",
    "globals()",
    "getattr(a, 'x')",
    "a.__class__",
    "a['x'].__class__",
    "__builtins__",
    "x.get('k')",
    "'{}'.format(a)",
    "(lambda: 1)()",
    "lambda: 1",
    "[x for x in range(10)]",
    "{x: 1 for x in a}",
    "(x for x in a)",
    "9**9**9",
    "2**100000",
    "10**9**9",
    "int('9' * 1200) * int('9' * 1200)",
    "'a'*10**9",
    "10**9*'a'",
    "[1]*10**9",
    "[[1]*100000]*100000",
    "['a'*100000]*100000",
    "'a'*100000 + 'a'",
    "['a'*90000, 'a'*90000, 'a'*90000, 'a'*90000, 'a'*90000, 'a'*90000, 'a'*90000, 'a'*90000,"
    " 'a'*90000, 'a'*90000, 'a'*90000, 'a'*90000]",
    "'%999999999d' % 1",
    "round(5, -10**9)",
    "int(Decimal('1e999999'))",
    "round(Decimal('1e999999'))",
    "ｅｖａｌ('1')",
    "Decimal('1.' + '1' * 20000) ** Decimal('0.5')",
    "str([1]*1000)",
    "sum([[1]], [])",
    "(" * 5000 + ")" * 5000,
    "(" * 500 + ")" * 500,
    "[" * 40 + "]" * 40,
    "-" * 1999 + "1",
    "not " * 499 + "x",
    "a." * 999 + "b",
    "1+" * 999 + "1",
    "[" + "1," * 999 + "]",
    "1 + " * 2500 + "1",
    "f'{a}'",
    "(y := 1)",
    "[*a]",
    "max(*a)",
    "max(**a)",
    "{**a}",
    "(yield)",
    "await a",
    "b'bytes'",
    "1j",
    "a << 100000",
    "~a",
    "a @ a",
    "a[1:2, 3]",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_expression_is_refused_quickly(text):
    started = time.perf_counter()
    with pytest.raises(ExpressionError):
        evaluate(text, {"a": {"x": 1}, "x": {"k": 1}})
    assert time.perf_counter() - started < 0.5


def test_hostile_expressions_have_no_side_effects(tmp_path):
    canary = tmp_path / "CANARY"
    attempts = [
        f"__import__('os').system('touch {canary}')",
        f"open('{canary}', 'w')",
        f"().__class__.__base__.__subclasses__()[0]('{canary}')",
        f"exec(\"open('{canary}', 'w')\")",
        f"eval(\"__import__('os').system('touch {canary}')\")",
        f"${{__import__('os').system('touch {canary}')}}",
        f"[__import__('os').system('touch {canary}') for _ in [1]]",
        f"(lambda: __import__('os').system('touch {canary}'))()",
        f"path.write_text('x')",
    ]
    for text in attempts:
        with pytest.raises(ExpressionError):
            evaluate(text, {"path": canary})
    assert not canary.exists()


def test_underscore_names_are_refused_at_compile_time():
    for text in ("_secret", "a._private", "len(_x)", "f(_kw=1)"):
        with pytest.raises(ExpressionError, match="not allowed"):
            compile_expression(text, ["f", "len"])


def test_refusal_reason_names_the_construct():
    reasons = {
        "(lambda: 1)": "lambda",
        "[x for x in a]": "comprehensions",
        "f'{a}'": "f-strings",
        "(y := 1)": ":=",
        "x.get('k')": "method calls",
        "a.__class__": "attribute '__class__' is not allowed",
        "__class__": "name '__class__' is not allowed",
        "a | b": "operator '|'",
    }
    for text, fragment in reasons.items():
        with pytest.raises(ExpressionError) as caught:
            compile_expression(text)
        assert fragment in caught.value.reason


def test_limits_allow_reasonable_expressions():
    assert evaluate("2 ** 64", {}) == 18446744073709551616
    assert evaluate("len('ab' * 50000)", {}) == 100_000
    assert evaluate("len([0] * 100000)", {}) == 100_000
    assert evaluate("(" * 30 + "1" + ")" * 30, {}) == 1
    assert evaluate(" + ".join(["1"] * 30), {}) == 30


def test_one_evaluation_has_a_total_allocation_budget():
    text = " + ".join(["len('a' * 100000)"] * 11)
    with pytest.raises(ExpressionError, match="builds more than"):
        evaluate(text, {})
    assert expressions.MAX_ALLOCATION < 11 * expressions.MAX_SEQUENCE_LENGTH
