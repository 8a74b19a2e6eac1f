"""Live websocket streams (ccxt.pro) into the same zvt tables the recorders write, with no silent loss.

```python
from zvt_ccxt.stream import CcxtStream
stream = CcxtStream(exchange="binance", symbols=["BTC/USDT", "ETH/USDT", "BTC/USDT:USDT"],
                    channels=["trades", "ohlcv", "orderbook", "funding"], level="1m")
asyncio.run(stream.run())          # until cancelled; Ctrl-C flushes and exits cleanly
```
"""

from zvt_ccxt._zvt import import_zvt

import_zvt()

from zvt_ccxt.stream.metrics import StreamMetrics, SubscriptionMetrics  # noqa: E402
from zvt_ccxt.stream.service import CHANNELS, CcxtStream  # noqa: E402
from zvt_ccxt.stream.subscriptions import BackoffPolicy  # noqa: E402

__all__ = ["CHANNELS", "BackoffPolicy", "CcxtStream", "StreamMetrics", "SubscriptionMetrics"]
