"""Serving exchange traffic from vcrpy cassettes, so notebooks, the main job and tests run offline.

``with replay("cassettes/okx.json"):`` (or ``ZVT_CCXT_REPLAY=cassettes/okx.json`` in the environment,
or ``--replay`` on the command line) answers every REST request from the cassette, with the package
clock frozen at the instant the cassette was recorded. A request the cassette does not hold fails.
"""

from zvt_ccxt.replay.cassettes import CassetteInfo, cassette_info, recording, replay

__all__ = ["CassetteInfo", "cassette_info", "recording", "replay"]
