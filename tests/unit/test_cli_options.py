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
