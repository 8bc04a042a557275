"""The analysis core must not import Django, so it runs in a notebook or on a Dask worker."""

import subprocess
import sys


def test_analysis_imports_without_django():
    code = "import sys, changebank.analysis; print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
