"""The small market universe served by the simulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .pricing import Series, SeriesSpec

SIMULATED_EXCHANGES = ("binance", "okx", "bybit", "coinbase")

# typical price level and mean traded base amount per minute, per base asset
ASSETS: dict[str, tuple[float, float]] = {
    "BTC": (45_000.0, 2.5),
    "ETH": (2_600.0, 30.0),
    "LUNA": (40.0, 600.0),
}

LUNA_DELIST_MS = 1_652_443_200_000  # 2022-05-13 12:00 UTC


@dataclass
class SimMarket:
    exchange: str
    symbol: str  # ccxt unified symbol
    id: str  # exchange market id
    kind: str  # "spot" | "linear" | "inverse"
    base: str
    quote: str
    settle: str | None
    tick: str  # price tick
    lot: str  # step of the order/volume unit (base amount, or contracts for contract-sized markets)
    min_qty: str
    max_qty: str
    listing_ms: int
    contract_size: str = "1"  # base per contract (linear) or quote per contract (inverse)
    native: str = "base"  # unit of the exchange's own volume field: "base" or "contracts"
    active: bool = True
    delist_ms: int | None = None
    hidden: bool = False  # removed from the instrument lists
    series: Series = field(init=False, repr=False)

    def __post_init__(self) -> None:
        level, volume = ASSETS[self.base]
        spec = SeriesSpec(
            key=f"{self.exchange}:{self.id}",
            asset=self.base,
            level=level,
            tick=Decimal(self.tick),
            lot=Decimal(self.lot),
            listing_ms=self.listing_ms,
            mean_base_volume=volume,
            native=self.native,
            contract_size=Decimal(self.contract_size),
            inverse=self.kind == "inverse",
        )
        self.series = Series(spec, delist_ms=self.delist_ms)

    @property
    def contract(self) -> bool:
        return self.kind != "spot"

    def delist(self, at_ms: int, hidden: bool = False) -> None:
        self.active = False
        self.hidden = hidden
        self.delist_ms = at_ms
        self.series.set_delisted(at_ms)


def _m(
    exchange: str,
    symbol: str,
    id: str,
    kind: str,
    tick: str,
    lot: str,
    min_qty: str,
    max_qty: str,
    listing_ms: int,
    **kw,
) -> SimMarket:
    base, rest = symbol.split("/")
    quote, _, settle = rest.partition(":")
    return SimMarket(
        exchange=exchange,
        symbol=symbol,
        id=id,
        kind=kind,
        base=base,
        quote=quote,
        settle=settle or None,
        tick=tick,
        lot=lot,
        min_qty=min_qty,
        max_qty=max_qty,
        listing_ms=listing_ms,
        **kw,
    )


def _luna(exchange: str, symbol: str, id: str, tick: str, lot: str, min_qty: str, listing_ms: int):
    return _m(
        exchange,
        symbol,
        id,
        "spot",
        tick,
        lot,
        min_qty,
        "9000000",
        listing_ms,
        active=False,
        delist_ms=LUNA_DELIST_MS,
    )


def build_universe() -> dict[str, list[SimMarket]]:
    """Fresh market objects (each simulator owns its own copy, so delistings and gaps stay local)."""
    return {
        "binance": [
            _m(
                "binance",
                "BTC/USDT",
                "BTCUSDT",
                "spot",
                "0.01",
                "0.00001",
                "0.00001",
                "9000",
                1_502_942_400_000,
            ),
            _m(
                "binance",
                "ETH/USDT",
                "ETHUSDT",
                "spot",
                "0.01",
                "0.0001",
                "0.0001",
                "9000",
                1_502_942_400_000,
            ),
            _luna("binance", "LUNA/USDT", "LUNAUSDT", "0.01", "0.01", "0.01", 1_598_011_200_000),
            _m(
                "binance",
                "BTC/USDT:USDT",
                "BTCUSDT",
                "linear",
                "0.10",
                "0.001",
                "0.001",
                "1000",
                1_567_900_800_000,
            ),
            _m(
                "binance",
                "ETH/USDT:USDT",
                "ETHUSDT",
                "linear",
                "0.01",
                "0.001",
                "0.001",
                "10000",
                1_574_812_800_000,
            ),
            _m(
                "binance",
                "BTC/USD:BTC",
                "BTCUSD_PERP",
                "inverse",
                "0.1",
                "1",
                "1",
                "1000000",
                1_597_042_800_000,
                contract_size="100",
                native="contracts",
            ),
        ],
        "okx": [
            _m(
                "okx",
                "BTC/USDT",
                "BTC-USDT",
                "spot",
                "0.1",
                "0.00000001",
                "0.00001",
                "9999999999",
                1_548_133_413_000,
            ),
            _m(
                "okx",
                "ETH/USDT",
                "ETH-USDT",
                "spot",
                "0.01",
                "0.000001",
                "0.0001",
                "9999999999",
                1_548_133_413_000,
            ),
            _luna("okx", "LUNA/USDT", "LUNA-USDT", "0.001", "0.000001", "0.1", 1_599_580_800_000),
            _m(
                "okx",
                "BTC/USDT:USDT",
                "BTC-USDT-SWAP",
                "linear",
                "0.1",
                "0.01",
                "0.01",
                "100000000",
                1_573_557_408_000,
                contract_size="0.01",
                native="contracts",
            ),
            _m(
                "okx",
                "ETH/USDT:USDT",
                "ETH-USDT-SWAP",
                "linear",
                "0.01",
                "0.01",
                "0.01",
                "100000000",
                1_573_557_408_000,
                contract_size="0.1",
                native="contracts",
            ),
            _m(
                "okx",
                "BTC/USD:BTC",
                "BTC-USD-SWAP",
                "inverse",
                "0.1",
                "1",
                "1",
                "100000000",
                1_544_433_600_000,
                contract_size="100",
                native="contracts",
            ),
        ],
        "bybit": [
            _m(
                "bybit",
                "BTC/USDT",
                "BTCUSDT",
                "spot",
                "0.01",
                "0.000001",
                "0.000048",
                "71.73956243",
                1_625_097_600_000,
            ),
            _m(
                "bybit",
                "ETH/USDT",
                "ETHUSDT",
                "spot",
                "0.01",
                "0.00001",
                "0.00062",
                "1229.2336343",
                1_625_097_600_000,
            ),
            _luna("bybit", "LUNA/USDT", "LUNAUSDT", "0.0001", "0.01", "0.01", 1_630_454_400_000),
            _m(
                "bybit",
                "BTC/USDT:USDT",
                "BTCUSDT",
                "linear",
                "0.10",
                "0.001",
                "0.001",
                "1190.000",
                1_585_526_400_000,
            ),
            _m(
                "bybit",
                "ETH/USDT:USDT",
                "ETHUSDT",
                "linear",
                "0.01",
                "0.01",
                "0.01",
                "7240.00",
                1_615_766_400_000,
            ),
            _m(
                "bybit",
                "BTC/USD:BTC",
                "BTCUSD",
                "inverse",
                "0.50",
                "1",
                "1",
                "1000000",
                1_542_211_200_000,
                contract_size="1",
                native="contracts",
            ),
        ],
        "coinbase": [
            _m(
                "coinbase",
                "BTC/USD",
                "BTC-USD",
                "spot",
                "0.01",
                "0.00000001",
                "0.00000001",
                "3400",
                1_421_798_400_000,
            ),
            _m(
                "coinbase",
                "ETH/USD",
                "ETH-USD",
                "spot",
                "0.01",
                "0.00000001",
                "0.00000001",
                "42000",
                1_463_616_000_000,
            ),
            _m(
                "coinbase",
                "BTC/USDT",
                "BTC-USDT",
                "spot",
                "0.01",
                "0.00000001",
                "0.00000001",
                "3400",
                1_629_244_800_000,
            ),
            _m(
                "coinbase",
                "ETH/USDT",
                "ETH-USDT",
                "spot",
                "0.01",
                "0.00000001",
                "0.00000001",
                "42000",
                1_629_244_800_000,
            ),
            _luna("coinbase", "LUNA/USDT", "LUNA-USDT", "0.0001", "0.001", "0.001", 1_630_454_400_000),
        ],
    }
