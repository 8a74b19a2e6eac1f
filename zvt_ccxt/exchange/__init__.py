"""Everything that talks to ccxt: client construction, retry and error classification, market loading."""
