"""Serving exchange traffic from vcrpy cassettes, so notebooks, the main job and tests run offline.

``with replay("okx-backfill"):`` (a cassette bundled in ``zvt_ccxt/cassettes``, or any cassette's path; also
``ZVT_CCXT_REPLAY=okx-backfill`` in the environment, or ``--replay`` on the command line) answers every REST
request from the cassette, with the package clock frozen at the instant the cassette was recorded. A request
the cassette does not hold fails. The test kit makes them: ``python -m zvt_ccxt_testkit.make_cassettes``.
"""

from zvt_ccxt.replay.cassettes import CassetteInfo, cassette_info, recording, replay

__all__ = ["CassetteInfo", "cassette_info", "recording", "replay"]
