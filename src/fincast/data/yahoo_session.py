"""The HTTP session fincast hands yfinance, and why curl_cffi must load before TensorFlow.

yfinance talks to Yahoo through curl_cffi, whose extension ``curl_cffi._wrapper``
links its own libcurl-impersonate statically but exports the libcurl API
(``curl_easy_init``, ``curl_easy_setopt``, ``curl_easy_perform``...) with default
visibility. TensorFlow loads ``libtensorflow_framework.so.2`` into the process's
global symbol scope, and that library exports a plain libcurl with the same names.
Python loads extensions with ``RTLD_NOW``, so an extension's calls are bound when
it loads, to the first definition in the global scope:

* curl_cffi loaded **before** TensorFlow binds to its own libcurl: everything works.
* curl_cffi loaded **after** TensorFlow binds ``curl_easy_init`` and friends to
  TensorFlow's libcurl, which knows no browser impersonation, so every request
  fails with ``ImpersonateError: Impersonating chrome152 is not supported`` before
  any connection is made (``LD_DEBUG=bindings`` shows the bindings).

fincast therefore (1) loads curl_cffi in :func:`fincast.backend.select_backend`,
which every entry point calls before Keras (and so TensorFlow) is imported, and
(2) where TensorFlow won the race anyway (a notebook that imported it first),
:func:`impersonation_works` notices without any network and the data layer fetches
in a fresh child process instead (:mod:`fincast.data.yahoo_process`).
"""

from __future__ import annotations

import functools
from typing import Any

# What yfinance 1.7 asks curl_cffi for (yfinance._http.new_session): the newest Chrome.
YAHOO_IMPERSONATE = "chrome"


def preload_http_client() -> bool:
    """Load curl_cffi's libcurl now, so that a later TensorFlow cannot shadow it.

    Returns:
        True when curl_cffi is installed and loaded (False: yfinance uses requests).
    """
    try:
        import curl_cffi.requests  # noqa: F401  (loading it binds its own libcurl)
    except ImportError:
        return False
    return True


def _native_target(target: str) -> str:
    try:
        from curl_cffi.requests.impersonate import resolve_latest_browser_type

        return str(resolve_latest_browser_type(target))
    except (ImportError, AttributeError, ValueError):
        return target


@functools.cache
def impersonation_works(target: str = YAHOO_IMPERSONATE) -> bool:
    """True when curl_cffi in this process can impersonate ``target`` (no network used).

    It is False where curl_cffi was first loaded after TensorFlow (see the module
    docstring). The answer cannot change once curl_cffi is loaded, so it is cached.
    Without curl_cffi (yfinance then uses ``requests``) there is nothing to break: True.
    """
    if not preload_http_client():
        return True
    from curl_cffi import Curl

    curl = Curl()
    try:
        return curl.impersonate(_native_target(target)) == 0
    finally:
        curl.close()


def yahoo_session(**options: Any) -> Any:
    """A new curl_cffi session impersonating the browser yfinance impersonates.

    fincast passes it to ``yfinance.download(session=...)``, so the requests it makes
    are exactly the ones this module's tests make.

    Args:
        **options: more ``curl_cffi.requests.Session`` options (e.g. ``verify``).
    """
    from curl_cffi import requests

    return requests.Session(impersonate=YAHOO_IMPERSONATE, **options)
