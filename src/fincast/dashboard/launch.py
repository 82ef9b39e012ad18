"""``fincast-app``: start the dashboard with its security settings, from any folder.

Streamlit reads ``.streamlit/config.toml`` from the working directory (and
``~/.streamlit``) only, so settings kept there are lost when the app starts anywhere
else. This launcher passes them as command-line flags, which Streamlit applies
wherever it runs and ranks above any config file or ``STREAMLIT_*`` variable. Flags
given to ``fincast-app`` come after them, so ``fincast-app --server.port 8600`` works.
The repository's ``.streamlit/config.toml`` holds the same values (a test keeps them
equal) for a plain ``streamlit run app/Home.py`` from the checkout.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from fincast.paths import _CHECKOUT_ROOT, _PACKAGE_DIR, _first_existing

SETTINGS: dict[str, str | int | bool] = {
    "server.address": "127.0.0.1",  # loopback only, unless chosen otherwise
    "server.headless": True,  # no browser, no e-mail prompt
    "server.enableXsrfProtection": True,  # uploads need an XSRF token
    "server.enableCORS": True,  # other web sites cannot call the server
    "server.maxUploadSize": 5,  # megabytes
    "server.enableStaticServing": False,
    "browser.gatherUsageStats": False,  # no usage statistics sent to Streamlit
    "client.toolbarMode": "minimal",  # no developer options, no Deploy button
    "client.showErrorDetails": "type",  # no tracebacks with paths and code
    "runner.magicEnabled": False,  # only explicit st.* calls render
}


def app_script() -> Path:
    """The dashboard's entry script: ``app/Home.py`` of the checkout or of the wheel."""
    return _first_existing(_CHECKOUT_ROOT / "app", _PACKAGE_DIR / "app") / "Home.py"


def flag_value(value: str | int | bool) -> str:
    """A setting as Streamlit's command line spells it.

    >>> flag_value(True), flag_value(5), flag_value("type")
    ('true', '5', 'type')
    """
    return str(value).lower() if isinstance(value, bool) else str(value)


def streamlit_args(extra: Sequence[str] = (), script: Path | None = None) -> list[str]:
    """``run <script>`` with every setting as a flag, then ``extra`` (which wins)."""
    flags = [part for key, value in SETTINGS.items() for part in (f"--{key}", flag_value(value))]
    return ["run", str(script or app_script()), *flags, *extra]


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``streamlit run`` on the dashboard with fincast's settings (and ``argv``'s flags)."""
    from streamlit.web import cli

    sys.argv = ["streamlit", *streamlit_args(sys.argv[1:] if argv is None else argv)]
    sys.exit(cli.main())
