"""The head every self-contained HTML page shares, and its Content-Security-Policy.

Pages (the HTML digest, the eval report) make no request of their own: their
CSS and any script are inline, and the policy allows exactly those (by hash),
so even a field that escaped escaping could not run or load anything.
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["content_security_policy", "csp_hash", "page_head"]


def csp_hash(source: str) -> str:
    """``source``'s CSP hash source expression: ``'sha256-<base64>'``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def content_security_policy(*, style: str, script: str | None = None) -> str:
    """A policy allowing only this inline ``style`` (and ``script``, if any), nothing else."""
    allowed = f"style-src {csp_hash(style)}; "
    if script is not None:
        allowed += f"script-src {csp_hash(script)}; "
    return f"default-src 'none'; {allowed}base-uri 'none'; form-action 'none'"


def page_head(title: str, *, style: str, policy: str) -> list[str]:
    """The lines from ``<!doctype html>`` to ``</head>``; ``title`` is already escaped."""
    return [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f"<title>{title}</title><style>{style}</style></head>",
    ]
