"""Settings read once from the environment and `.env`."""

from config.settings import QuietHours, Settings, SettingsError, WeeklyTime, load_settings

__all__ = ["QuietHours", "Settings", "SettingsError", "WeeklyTime", "load_settings"]
