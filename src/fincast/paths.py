"""Where fincast finds its configs and bundled data, from a checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_CHECKOUT_ROOT = _PACKAGE_DIR.parents[1]


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    searched = ", ".join(str(candidate) for candidate in candidates)
    raise FileNotFoundError(f"fincast is not installed completely: none of {searched} exists.")


def config_dir() -> Path:
    """The Hydra config directory: ``conf/`` of a checkout, else the packaged copy."""
    return _first_existing(_CHECKOUT_ROOT / "conf", _PACKAGE_DIR / "conf")


def sample_data_dir() -> Path:
    """The bundled sample data: ``data/sample`` of a checkout, else the packaged copy."""
    return _first_existing(_CHECKOUT_ROOT / "data" / "sample", _PACKAGE_DIR / "sample_data")


def stocknet_data_dir() -> Path:
    """The bundled 88-stock panel: ``data/stocknet`` of a checkout, else the packaged copy."""
    return _first_existing(_CHECKOUT_ROOT / "data" / "stocknet", _PACKAGE_DIR / "stocknet_data")
