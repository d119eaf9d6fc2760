"""Log lines that show what a client sent instead of being rewritten by it.

A URL, a path or a header is client text; written raw, a U+202E (right-to-left override) shows
`.../gpj.exe` as `.../exe.jpg`, an ANSI escape recolours the terminal, a newline forges a second
line. Every line the API and its gunicorn loggers write goes through `EscapeHidden`, which writes
such characters as escapes (`\\u202e`, `\\x1b`, `\\n`).
"""

from __future__ import annotations

import logging

from wandr_pipeline.lib.text import escape_hidden


class EscapeHidden(logging.Filter):
    """Rewrites a record's message with hidden characters escaped (the traceback, ours, is left alone)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = escape_hidden(message)
        if escaped != message:
            record.msg, record.args = escaped, None
        return True


def escape_handlers(logger: logging.Logger) -> None:
    """Adds the filter to each handler of `logger` (so records of its child loggers pass it too)."""
    for handler in logger.handlers:
        if not any(isinstance(f, EscapeHidden) for f in handler.filters):
            handler.addFilter(EscapeHidden())
