"""rotxl in xlwings Lite: paste this file into the main.py tab of the xlwings Lite editor, and
lite/requirements.txt into its requirements.txt tab (see that file for installing rotxl).

The worksheet functions (=ROT(...), =ROT_TABLE(...), =PIPELINE_TABLE(...) and the rest) are
rotxl.functions, imported whole; the scripts below are the workbook actions of rotxl.macros
that work without a file system. Import export reads the CRM export from a sheet named Import:
paste the export there (header row first) and run the script. Building team workbooks writes
files, so it is for desktop Excel (the rotxl add-in) or the command line (rotxl build).
"""

import xlwings as xw
from xlwings import script

from rotxl import macros
from rotxl.functions import *  # noqa: F403 - every worksheet function, registered by its @xw.func


@script
def import_export(book: xw.Book):
    """Merge the export pasted into the Import sheet into the Accounts or Pipeline table."""
    macros.import_export(book)


@script
def prioritise(book: xw.Book):
    """Sort Accounts by segment and ROT, and the Pipeline by priority and expected value."""
    macros.prioritise(book)


@script
def check(book: xw.Book):
    """List every row with an issue on the Check sheet."""
    macros.check(book)


@script
def freeze_thresholds(book: xw.Book):
    """Write today's thresholds into Settings as numbers."""
    macros.freeze_thresholds(book)


@script
def live_thresholds(book: xw.Book):
    """Let the thresholds follow the data again."""
    macros.live_thresholds(book)
