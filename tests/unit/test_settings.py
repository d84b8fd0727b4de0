from __future__ import annotations

from lineprobe.lsp.settings import PathMapping, Settings, update_settings
from lineprobe.lsp.source_locator import SourceLocator


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


def test_java_sources_are_found_by_package_path_under_the_workspace_or_extra_roots(tmp_path) -> None:
    workspace, elsewhere = tmp_path / "ws", tmp_path / "lib"
    (workspace / "src" / "main" / "java" / "slowy").mkdir(parents=True)
    (workspace / "src" / "main" / "java" / "slowy" / "App.java").write_text("class App {}\n")
    (elsewhere / "util").mkdir(parents=True)
    (elsewhere / "util" / "Hash.java").write_text("class Hash {}\n")
    settings, problems = update_settings(Settings(), {"javaSourceRoots": [str(elsewhere)]})
    assert problems == [] and settings.java_source_roots == (str(elsewhere),)
    locator = SourceLocator(settings, [str(workspace)])
    assert locator.local("slowy/App.java") == str(workspace / "src" / "main" / "java" / "slowy" / "App.java")
    assert locator.local("util/Hash.java") == str(elsewhere / "util" / "Hash.java")
    assert locator.local("other/Gone.java") is None
    _, refused = update_settings(Settings(), {"javaSourceRoots": ["relative/src"]})
    assert refused == ["setting javaSourceRoots must be a list of absolute folder paths"]
