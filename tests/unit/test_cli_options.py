"""Option values are checked where they are parsed, before any agent starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from lineprobe.cli import main


@pytest.mark.parametrize("command", ["profile", "syscalls", "leaks"])
@pytest.mark.parametrize("duration", ["nan", "inf", "-inf", "0", "-1", "3601"])
def test_a_duration_that_is_not_a_finite_number_in_range_is_a_usage_error(
    command: str, duration: str
) -> None:
    """`--duration nan` used to reach the agent as null and hang the CLI forever."""
    result = CliRunner().invoke(main, [command, "--pid", "1", "--duration", duration])
    assert result.exit_code == 2, result.output
    assert "--duration" in result.output


@pytest.mark.parametrize(
    ("command", "option"),
    [("syscalls", "--slow-ms"), ("leaks", "--interval"), ("leaks", "--budget"), ("leaks", "--sample")],
)
def test_other_numbers_refuse_nan_too(command: str, option: str) -> None:
    result = CliRunner().invoke(main, [command, "--pid", "1", option, "nan"])
    assert result.exit_code == 2, result.output
    assert "not a finite number" in result.output


@pytest.mark.parametrize("option", ["--folded", "--speedscope"])
def test_an_output_path_that_cannot_be_written_is_refused_before_tracing(option: str, tmp_path: Path) -> None:
    """`--folded /nonexistent/dir/out.folded` printed a traceback after the whole trace."""
    result = CliRunner().invoke(main, ["profile", "--pid", "1", option, "/nonexistent/dir/out.folded"])
    assert result.exit_code == 2, result.output
    assert "/nonexistent/dir" in result.output and "does not exist" in result.output
    assert ("Traceback" not in result.output and result.exception is None) or isinstance(
        result.exception, SystemExit
    )
    (tmp_path / "sub").mkdir()
    result = CliRunner().invoke(main, ["profile", "--pid", "1", option, str(tmp_path / "sub")])
    assert result.exit_code == 2 and "directory" in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2", (2, False, 0)), ("4:text", (4, True, 0)), ("4:text:5", (4, True, 5)), ("12", (12, False, 0))],
)
def test_usdt_count_arguments_are_parsed(text: str, expected: tuple[int, bool, int]) -> None:
    from lineprobe.cli import _argument_choice

    choice = _argument_choice(text)
    assert (choice.number, choice.text, choice.length_argument) == expected


@pytest.mark.parametrize("text", ["0", "13", "x", "2:txt", "2:text:13", "2:text:5:6", ""])
def test_usdt_count_refuses_bad_arguments_before_tracing(text: str) -> None:
    result = CliRunner().invoke(main, ["usdt", "count", "--pid", "1", "--arg", text, "p:n"])
    assert result.exit_code == 2, result.output
    assert "expected N, N:text or N:text:M" in result.output


def test_usdt_count_options_that_do_not_go_together() -> None:
    three = ["--arg", "1", "--arg", "2", "--arg", "3"]
    result = CliRunner().invoke(main, ["usdt", "count", "--pid", "1", *three, "p:n"])
    assert result.exit_code == 2 and "two arguments at most" in result.output
    result = CliRunner().invoke(main, ["usdt", "count", "--pid", "1", "--stack", "--arg", "1", "p:n"])
    assert result.exit_code == 2 and "give no --arg" in result.output
    result = CliRunner().invoke(main, ["usdt", "count", "--pid", "1", "--folded", "/tmp/x.folded", "p:n"])
    assert result.exit_code == 2 and "add --stack" in result.output
