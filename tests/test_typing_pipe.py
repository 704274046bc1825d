"""What the README's "typing" convention says about ``pipe`` under ``mypy --strict``, checked by
running mypy on a user module: typed functions give the last stage's type, a lambda is checked
against the operator's type variable, and a mismatch between stages is not reported."""

from __future__ import annotations

import os
import pathlib

import pytest
from mypy import api

ROOT = pathlib.Path(__file__).resolve().parent.parent

USER_MODULE = '''
from streamguard import from_iterable, operators as op

def to_str(x: int) -> str:
    return str(x)

def needs_int(x: int) -> int:
    return x

typed = from_iterable(range(3)).pipe(op.map(to_str))
reveal_type(typed)
mismatch = from_iterable(range(3)).pipe(op.map(to_str), op.map(needs_int))
reveal_type(mismatch)
with_lambda = from_iterable(range(3)).pipe(op.map(lambda x: x % 2))
'''


@pytest.fixture(scope="module")
def mypy_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    module = tmp_path_factory.mktemp("typing") / "user.py"
    module.write_text(USER_MODULE)
    old = os.environ.get("MYPYPATH")
    os.environ["MYPYPATH"] = str(ROOT)
    try:
        out, err, _status = api.run(["--strict", "--no-error-summary",
                                     "--cache-dir", str(ROOT / ".mypy_cache"), str(module)])
    finally:
        if old is None:
            os.environ.pop("MYPYPATH", None)
        else:
            os.environ["MYPYPATH"] = old
    assert not err, err
    return [line.split(":", 2)[-1].strip() for line in out.splitlines()]


def test_typed_functions_type_the_pipe_as_its_last_stage(mypy_lines: list[str]) -> None:
    assert 'note: Revealed type is "streamguard.core._stream.Stream[str]"' in mypy_lines


def test_a_mismatch_between_stages_is_not_reported_and_types_as_any(
        mypy_lines: list[str]) -> None:
    assert 'note: Revealed type is "streamguard.core._stream.Stream[Any]"' in mypy_lines
    assert not any("needs_int" in line for line in mypy_lines), mypy_lines


def test_a_lambda_is_checked_against_the_operators_type_variable(mypy_lines: list[str]) -> None:
    assert any(line.startswith("error: Unsupported operand types for %") for line in mypy_lines), \
        mypy_lines
