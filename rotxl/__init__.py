"""rotxl: return on selling time, in Excel."""

from .engine import (
    account_thresholds,
    classify_accounts,
    pipeline_thresholds,
    score_pipeline,
)
from .schema import MissingColumnsError
from .settings import Settings, SettingsError

__all__ = [
    "Settings",
    "SettingsError",
    "MissingColumnsError",
    "classify_accounts",
    "score_pipeline",
    "account_thresholds",
    "pipeline_thresholds",
]
__version__ = "0.1.0"
