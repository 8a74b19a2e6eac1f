"""Candlestick charts with volume for the examples: interactive HTML (plotly) and a PNG (matplotlib).

The PNG can be looked at without a browser; the HTML embeds plotly, so it opens offline too.
Output goes to ``$ZVT_CCXT_EXAMPLES_OUT`` (default: ``examples/output``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

UP, DOWN = "#26a69a", "#ef5350"


def synthetic_label(source: str | None) -> str:
    """What a title or a printed line adds for data that is not the exchange's history: ``source`` is the coverage
    report's (``live``, ``replay``, ``simulator``, or a mix such as ``live+replay``)."""
    if not source or source == "live":
        return ""
    return f" [synthetic data: {source}, not exchange history]"


def output_dir() -> Path:
    """Where the examples write their charts (created on first use)."""
    path = Path(os.environ.get("ZVT_CCXT_EXAMPLES_OUT") or Path(__file__).resolve().parent / "output")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _bars(df: pd.DataFrame) -> pd.DataFrame:
    """OHLCV indexed by timestamp, whether ``df`` is indexed by it or has it as a column."""
    frame = df if isinstance(df.index, pd.DatetimeIndex) else df.set_index("timestamp")
    return frame[["open", "high", "low", "close", "volume"]].sort_index()


def candles_figure(df: pd.DataFrame, title: str, source: str | None = None):
    """A plotly candlestick chart with a volume panel below, sharing the time axis; the title says when the data
    is synthetic (``source``: the coverage report's)."""
    title += synthetic_label(source)
    from plotly.graph_objects import Bar, Candlestick
    from plotly.subplots import make_subplots

    bars = _bars(df)
    colors = [UP if c >= o else DOWN for o, c in zip(bars.open, bars.close, strict=True)]
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.03, row_heights=[0.75, 0.25])
    figure.add_trace(
        Candlestick(
            x=bars.index,
            open=bars.open,
            high=bars.high,
            low=bars.low,
            close=bars.close,
            increasing_line_color=UP,
            decreasing_line_color=DOWN,
            name="price",
        ),
        row=1,
        col=1,
    )
    figure.add_trace(Bar(x=bars.index, y=bars.volume, marker_color=colors, name="volume"), row=2, col=1)
    figure.update_layout(
        title=title, xaxis_rangeslider_visible=False, showlegend=False, height=600, margin=dict(l=50, r=20, t=50, b=30)
    )
    figure.update_yaxes(title_text="price", row=1, col=1)
    figure.update_yaxes(title_text="volume", row=2, col=1)
    return figure


def save_candles_html(df: pd.DataFrame, path: Path, title: str, source: str | None = None) -> Path:
    candles_figure(df, title, source).write_html(str(path), include_plotlyjs=True)
    return path


def save_candles_png(df: pd.DataFrame, path: Path, title: str, source: str | None = None) -> Path:
    """The same chart drawn with matplotlib (wicks, bodies, volume) into a PNG."""
    title += synthetic_label(source)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    bars = _bars(df)
    x = mdates.date2num(bars.index.to_pydatetime())
    step = float(pd.Series(x).diff().median()) if len(x) > 1 else 1.0 / 24
    width = step * 0.7
    up = (bars.close >= bars.open).to_numpy()
    colors = [UP if u else DOWN for u in up]

    figure, (price, volume) = plt.subplots(
        2, 1, sharex=True, figsize=(12, 6.5), gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05}
    )
    price.vlines(x, bars.low, bars.high, colors=colors, linewidth=0.8)
    bottoms = bars[["open", "close"]].min(axis=1)
    heights = (bars.close - bars.open).abs().clip(lower=(bars.high - bars.low).max() * 1e-4)
    price.bar(x, heights, width, bottom=bottoms, color=colors, edgecolor=colors, linewidth=0.5)
    price.set_title(title)
    price.set_ylabel("price")
    price.grid(alpha=0.25)
    volume.bar(x, bars.volume, width, color=colors)
    volume.set_ylabel("volume")
    volume.grid(alpha=0.25)
    volume.xaxis.set_major_locator(mdates.AutoDateLocator())
    volume.xaxis.set_major_formatter(mdates.ConciseDateFormatter(volume.xaxis.get_major_locator()))
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def save_line_png(
    series: dict[str, pd.Series], path: Path, title: str, ylabel: str, source: str | None = None
) -> Path:
    """One or more time series on one axis, into a PNG (basis, funding rates...)."""
    title += synthetic_label(source)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(12, 4.5))
    for label, values in series.items():
        axis.plot(values.index, values.values, label=label, linewidth=1.0)
    axis.set_title(title)
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.25)
    axis.legend()
    figure.autofmt_xdate()
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path
