"""The one place that builds and parses the names fincast registers models under.

A pooled model (one model for every ticker of the job) is ``fincast-<task>-<family>``;
a per-ticker model adds the ticker, ``-`` written ``_`` and other characters than
letters, digits, ``_`` and ``.`` dropped: ``fincast-returns-lstm-GSPC``,
``fincast-returns-lstm-BRK_B``. Saved files go to a folder of the same name.

>>> registered_name("volatility", "mlp")
'fincast-volatility-mlp'
>>> parse_registered_name("fincast-returns-lstm-GSPC")
ModelName(task='returns', family='lstm', ticker='GSPC')
>>> parse_registered_name("someone-elses-model") is None
True
"""

from __future__ import annotations

import re
from typing import NamedTuple

PREFIX = "fincast-"
CHAMPION = "champion"


class ModelName(NamedTuple):
    """The parts of a registered name; ``ticker`` is ``None`` for a pooled model."""

    task: str
    family: str
    ticker: str | None = None


def ticker_slug(ticker: str) -> str:
    """``ticker`` as it appears in a registered name (``^GSPC`` -> ``GSPC``)."""
    return re.sub(r"[^A-Za-z0-9_.]", "", ticker.replace("-", "_")) or "series"


def registered_name(task: str, family: str, ticker: str | None = None) -> str:
    """The registered name of a task and model family, per ticker when ``ticker`` is given."""
    name = f"{PREFIX}{task}-{family}"
    return name if ticker is None else f"{name}-{ticker_slug(ticker)}"


def parse_registered_name(name: str) -> ModelName | None:
    """The task, family and ticker of a fincast name (``None`` if not fincast's)."""
    if not name.startswith(PREFIX):
        return None
    parts = name.removeprefix(PREFIX).split("-")
    if len(parts) not in (2, 3) or not all(parts):
        return None
    return ModelName(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


def champion_uri(task: str, family: str, ticker: str | None = None) -> str:
    """``models:/<name>@champion``: the registry's best model of a task and family."""
    return f"models:/{registered_name(task, family, ticker)}@{CHAMPION}"
