"""``python -m zvt_ccxt.cli``: the same as the ``zvt-ccxt`` command."""

from zvt_ccxt.cli import console_main

console_main()
