"""``python -m zvt_ccxt.cli``: the same as the ``zvt-ccxt`` command."""

import sys

from zvt_ccxt.cli import main

sys.exit(main())
