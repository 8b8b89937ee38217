"""Logging with a redaction filter: tokens, codes, PINs and secrets never reach a log line."""

from __future__ import annotations

import logging
import re

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # JWTs / JWS compact (three base64url parts, the first a JSON header)
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), "<jwt>"),
    # name=value pairs that carry secrets, in URLs, forms and reprs
    (
        re.compile(
            r"(?i)\b(refresh_token|access_token|subject_token|token|code|pin|puk|secret|"
            r"client_secret|password|seed|kek|otp)(['\"]?\s*[=:]\s*['\"]?)([^\s&'\",}]+)"
        ),
        r"\1\2<redacted>",
    ),
    (re.compile(r"(?i)\b(Bearer|Basic|DPoP)\s+[A-Za-z0-9._~+/=-]+"), r"\1 <redacted>"),
    # long opaque random strings (refresh tokens, secrets): 32+ base64url characters
    (re.compile(r"\b[A-Za-z0-9_-]{40,}\b"), "<opaque>"),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with secrets removed (attach to handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
