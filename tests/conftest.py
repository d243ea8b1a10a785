"""Test-wide setup.

xlwings reads XLWINGS_ON_SERVER when it is first imported, so it is set here, before any
test module imports xlwings: it switches xlwings to its Office.js custom-function machinery
(the call path of xlwings Server and Lite), which runs without Excel. The noncommercial key
is the one xlwings provides for noncommercial use, which this test suite is.
"""

import os

os.environ["XLWINGS_ON_SERVER"] = "true"
os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")
