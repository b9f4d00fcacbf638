"""What every command gets from the `cdpflow` group: the settings, loaded on first use."""

from __future__ import annotations

from cdpflow.settings import Settings, load_settings


class Context:
    """Settings are loaded on first use, so `--help` works even with a broken config."""

    def __init__(self, home: str | None) -> None:
        self.home = home
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(home=self.home)
        return self._settings
