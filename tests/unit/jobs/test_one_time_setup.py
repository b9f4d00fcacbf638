"""The commented `cdpflow.yaml` one_time_setup writes: uncommenting any of its lines must load,
and give the default it documents."""

from __future__ import annotations

from pathlib import Path

from cdpflow.errors import ConfigError
from cdpflow.jobs.one_time_setup import config_template
from cdpflow.settings import SETTINGS, load_settings


def setting_lines(template: str) -> dict[str, str]:
    """key -> the template's commented `KEY: value` line, uncommented."""
    keys = {s.key for s in SETTINGS}
    lines = [line.removeprefix("# ") for line in template.splitlines()]
    return {line.split(":", 1)[0]: line for line in lines if line.split(":", 1)[0] in keys}


def test_every_setting_is_documented_above_its_line(tmp_path: Path) -> None:
    template = config_template(load_settings(env={}, home=tmp_path / "home"))
    lines = template.splitlines()
    for s in SETTINGS:
        (at,) = [i for i, line in enumerate(lines) if line.startswith(f"# {s.key}:")]
        assert lines[at - 1] == f"# {s.doc}"


def test_uncommenting_a_line_keeps_its_default(tmp_path: Path) -> None:
    defaults = load_settings(env={}, home=tmp_path / "home")
    (tmp_path / "home").mkdir(parents=True)
    config = tmp_path / "home" / "cdpflow.yaml"
    problems = {}
    for key, line in setting_lines(config_template(defaults)).items():
        config.write_text(line + "\n")
        try:
            uncommented = load_settings(env={}, home=tmp_path / "home")
        except ConfigError as err:
            problems[key] = f"{line!r}: {err}"
            continue
        if uncommented.value_of(key) != defaults.value_of(key):
            problems[key] = f"{line!r} gives {uncommented.value_of(key)!r}"
    assert problems == {}
    assert len(setting_lines(config_template(defaults))) == len(SETTINGS)
