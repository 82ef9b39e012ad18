"""Content fingerprints of market data: the same bars give the same digest on any machine."""

from __future__ import annotations

import hashlib

import pandas as pd


def data_fingerprint(bars: dict[str, pd.DataFrame]) -> str:
    """A SHA-256 digest of every ticker's dates, columns and values (order of tickers ignored).

    >>> days = pd.to_datetime(["2020-01-01", "2020-01-02"])
    >>> frame = pd.DataFrame({"close": [1.0, 2.0]}, index=days)
    >>> data_fingerprint({"A": frame}) == data_fingerprint({"A": frame.copy()})
    True
    >>> data_fingerprint({"A": frame}) == data_fingerprint({"A": frame * 2})
    False
    """
    digest = hashlib.sha256()
    for ticker in sorted(bars):
        frame = bars[ticker]
        digest.update(ticker.encode())
        digest.update(",".join(map(str, frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def panel_frame(bars: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """All tickers' bars in one long frame with ``ticker`` and ``date`` columns."""
    return pd.concat(
        [frame.reset_index().assign(ticker=ticker) for ticker, frame in sorted(bars.items())],
        ignore_index=True,
    )
