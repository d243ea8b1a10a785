"""The module xlwings loads ("UDF Modules: udfs"): rotxl's worksheet functions.

xlwings finds the functions by scanning this module's members for ``__xlfunc__``, so
they are re-exported here; they live in rotxl.excel.functions.
"""

from rotxl.excel.functions import *  # noqa: F403
from rotxl.excel.functions import __all__  # noqa: F401
