"""Random and malformed expressions never crash the parser or the compiler: they compile, or they
raise ExpressionError saying where (a column inside the text, or just after it) and why."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtpose.camera.fly_scene import NODE_NAMES
from rtpose.core.types import Poses
from rtpose.triggers.expression import ExpressionError, FeatureEnvironment, compile_condition
from rtpose.triggers.expression.environment import CircleRoi

ENVIRONMENT = FeatureEnvironment(
    ("female", "male"), NODE_NAMES, px_per_mm=14.0, rois={"arena": CircleRoi(128.0, 128.0, 100.0)}
)
WORDS = [
    "distance", "angle", "heading", "speed", "inside", "visible", "score", "abs", "and", "or", "not",
    "male", "female", "queen", "head", "thorax", "abdomen", "wing", "arena", "mm", "px", "deg", "rad",
    "s", "ms", "mm/s", "px/s", "cm", "(", ")", ",", ".", "-", "<", "<=", ">", ">=", "==", "!", "&&",
    "1", "2.5", "1e3", "1e999", ".5", "0", " ",
]  # fmt: skip
POINTS = st.sampled_from([f"{a}.{n}" for a in ("male", "female") for n in ("head", "thorax", "abdomen")])
ANIMAL = st.sampled_from(["male", "female"])


def _check(text: str) -> None:
    try:
        condition = compile_condition(text, ENVIRONMENT)
    except ExpressionError as error:
        assert 1 <= error.column <= len(text) + 1, (text, error.column)
        assert error.reason
        assert f"(column {error.column})" in str(error)
        assert "^" in str(error).splitlines()[-1]
        return
    poses = Poses.empty(2, len(NODE_NAMES))
    assert condition.evaluate(poses, 0) in (True, False, None)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=120))
def test_arbitrary_text(text: str) -> None:
    _check(text)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=40))
def test_token_soup(words: list[str]) -> None:
    _check(" ".join(words))
    _check("".join(words))


def _comparisons() -> st.SearchStrategy[str]:
    value = st.one_of(
        st.builds(lambda a, b: f"distance({a}, {b})", POINTS, POINTS),
        st.builds(lambda a, b: f"abs(angle({a}, {b}))", ANIMAL, ANIMAL),
        st.builds(lambda p: f"speed({p})", POINTS),
        st.builds(lambda p: f"score({p})", POINTS),
    )
    number = st.builds(
        lambda x, unit: f"{x:g}{unit}",
        st.floats(-1e6, 1e6, allow_nan=False),
        st.sampled_from(["", " mm", " px", " deg", " mm/s", " s"]),
    )
    return st.builds(lambda v, op, n: f"{v} {op} {n}", value, st.sampled_from(["<", ">=", "=="]), number)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        _comparisons(),
        lambda inner: st.one_of(
            st.builds(lambda a, b: f"{a} and {b}", inner, inner),
            st.builds(lambda a, b: f"{a} or {b}", inner, inner),
            st.builds(lambda a: f"not ({a})", inner),
        ),
        max_leaves=8,
    ),
    st.integers(0, 60),
    st.integers(0, 3),
)
def test_near_valid_expressions_mutated(text: str, cut: int, mutation: int) -> None:
    _check(text)
    position = min(cut, len(text))
    mutated = [
        text[:position],
        text[:position] + ")" + text[position:],
        text[:position] + "(" + text[position:],
    ]
    mutated.append(text[:position] + text[position + 1 :])
    _check(mutated[mutation])


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    for text in ["(" * 5000 + "1", "not " * 5000 + "visible(male.head)", "-" * 5000 + "1 < 2", "abs(" * 3000]:
        _check(text)
