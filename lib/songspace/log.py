"""Where songspace's log messages go.

Every module logs to a child of the ``"songspace"`` logger (``logging.getLogger(__name__)``) and
never configures logging on import. :func:`setup_logging` shows those messages: the ``songspace``
command calls it (INFO, or DEBUG with ``-v``) and so does ``plots.setup_notebook()`` (INFO, on
stdout, so notebooks show what the library is doing). Anywhere else::

    from songspace.log import setup_logging
    setup_logging()                 # INFO and up on stderr
    setup_logging(logging.DEBUG)    # everything
"""
from __future__ import annotations

import logging
import sys

__all__ = ["setup_logging", "LOGGER_NAME"]

LOGGER_NAME = "songspace"


class _Formatter(logging.Formatter):
    """INFO lines are the bare message; other levels say their level (and, at DEBUG, the module)."""

    def __init__(self, debug: bool):
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.levelno != logging.INFO or self.debug:
            where = f" {record.name}" if self.debug else ""
            msg = f"{record.levelname.lower()}{where}: {msg}"
        if record.exc_info:
            msg += "\n" + self.formatException(record.exc_info)
        return msg


class _LiveStreamHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` / ``sys.stdout`` is *now* (pytest's capture, a notebook's
    stream), not the object that was current when the handler was made."""

    def __init__(self, which: str):
        super().__init__()
        self.which = which

    @property
    def stream(self):
        return getattr(sys, self.which)

    @stream.setter
    def stream(self, _value):  # StreamHandler.__init__ assigns it; the live stream wins
        pass


def setup_logging(level: int | str = logging.INFO, stream: str = "stderr") -> logging.Logger:
    """Show songspace's log messages at ``level`` and above on ``stream`` ("stderr" or "stdout").

    Idempotent: calling it again replaces the handler it added before (never doubles lines).
    The ``songspace`` logger stops propagating to the root logger, so a root handler configured
    elsewhere does not print each line twice.

    Returns
    -------
    logging.Logger
        The ``"songspace"`` logger.
    """
    if stream not in ("stderr", "stdout"):
        raise ValueError(f"stream must be 'stderr' or 'stdout', got {stream!r}")
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        if not isinstance(level, int):
            raise ValueError(f"unknown logging level {level!r}")
    logger = logging.getLogger(LOGGER_NAME)
    for h in [h for h in logger.handlers if getattr(h, "_songspace", False)]:
        logger.removeHandler(h)
    handler = _LiveStreamHandler(stream)
    handler._songspace = True
    handler.setFormatter(_Formatter(debug=level <= logging.DEBUG))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger
