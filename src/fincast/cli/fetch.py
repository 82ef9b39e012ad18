"""``fincast-fetch``: download (or load) market data, validate it and cache it.

fincast-fetch data=yfinance 'data.tickers=[AAPL,MSFT]'
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from fincast.cli.common import plain, run_hydra_app

COMMAND = "fincast-fetch"


def fetch(config: DictConfig) -> None:
    """The Hydra task of ``fincast-fetch``: one line per ticker, stored or failed."""
    from fincast.data.loading import load_bars
    from fincast.data.sources import MarketDataError, MarketDataUnavailable

    failed = 0
    for ticker in config.data.tickers:
        try:
            bars = load_bars(
                str(config.data.source),
                [ticker],
                cache_dir=Path(config.data.cache_dir),
                refresh=True,
                options=plain(config.data.options),
            )[ticker]
        except (MarketDataError, MarketDataUnavailable) as error:
            failed += 1
            print(f"{COMMAND}: error: {error}", file=sys.stderr)
            continue
        print(
            f"{ticker}: {len(bars)} rows, {bars.index[0].date()} .. {bars.index[-1].date()} "
            f"({config.data.source})"
        )
    if failed:
        sys.exit(2)


def main() -> None:
    """Console entry point."""
    run_hydra_app(fetch)


if __name__ == "__main__":
    main()
