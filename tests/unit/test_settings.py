from __future__ import annotations

from lineprobe.lsp.settings import PathMapping, Settings, update_settings


def test_valid_settings_apply() -> None:
    settings, problems = update_settings(
        Settings(),
        {
            "lineprobe": {
                "diagnosticThreshold": 2.5,
                "frequency": 199,
                "durationMs": 2000,
                "launcher": "doas -n",
                "pathMappings": [{"from": "/build/src", "to": "/home/me/src"}],
            }
        },
    )
    assert problems == []
    assert settings.diagnostic_threshold == 2.5
    assert settings.frequency == 199
    assert settings.duration_ms == 2000
    assert settings.launcher == "doas -n"
    assert settings.path_mappings == (PathMapping("/build/src", "/home/me/src"),)
    assert settings.map_path("/build/src/a/b.c") == "/home/me/src/a/b.c"
    assert settings.map_path("/build/srcx/b.c") == "/build/srcx/b.c"


def test_garbage_keeps_previous_values_and_says_why() -> None:
    before = Settings(diagnostic_threshold=3.0)
    after, problems = update_settings(
        before,
        {"diagnosticThreshold": "high", "frequency": -3, "launcher": 5, "pathMappings": [1, {"from": 2}]},
    )
    assert after.diagnostic_threshold == 3.0 and after.frequency == before.frequency
    assert len(problems) == 5
    same, problems = update_settings(before, ["not", "an", "object"])
    assert same == before and problems
