"""rotxl: return on selling time, in Excel."""

__version__ = "0.1.0"

from .rules.engine import (  # noqa: E402
    account_thresholds,
    classify_accounts,
    pipeline_thresholds,
    score_pipeline,
)
from .data.io import ReadError, read_accounts, read_pipeline, read_table, write_table  # noqa: E402
from .rules.schema import MissingColumnsError  # noqa: E402
from .rules.settings import Settings, SettingsError  # noqa: E402

__all__ = [
    "Settings",
    "SettingsError",
    "MissingColumnsError",
    "ReadError",
    "classify_accounts",
    "score_pipeline",
    "account_thresholds",
    "pipeline_thresholds",
    "read_table",
    "read_accounts",
    "read_pipeline",
    "write_table",
]
