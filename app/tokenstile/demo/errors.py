"""The demo's own error: a demo that could not be set up."""

from __future__ import annotations

from tokenstile.errors import TokenstileError


class DemoError(TokenstileError):
    """The demo could not be set up (a busy folder, a service that did not start)."""

    code = "demo_error"
