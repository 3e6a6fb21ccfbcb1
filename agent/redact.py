"""Redaction of secrets that live inside URLs (webhook tokens, user info).

Its own module so that configuration errors and the alert sinks share one rule
without the settings importing the sinks (which import the settings).
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["redact_service_url", "redact_url"]


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` plus ``/***`` when there was a path or a query.

    User info (``user:pass@``) is dropped too. Anything unparsable becomes ``***``.
    """
    try:
        u = urlsplit(url)
        host = u.hostname
        port = u.port
    except ValueError:
        return "***"
    if not u.scheme or not host:
        return "***"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    rest = "/***" if (u.path not in ("", "/") or u.query or u.fragment) else ""
    return f"{u.scheme}://{netloc}{rest}"


def redact_service_url(url: str) -> str:
    """An apprise URL (``tgram://bottoken/chat``, ``pagerduty://key@apikey``): only
    its scheme, since every other part of it may be the token."""
    scheme, sep, _rest = url.partition("://")
    ok = sep and scheme and scheme.replace("+", "").replace("-", "").isalnum()
    return f"{scheme}://***" if ok else "***"
