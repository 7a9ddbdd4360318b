"""Errors raised by the media helpers.

``MediaError`` carries a message written for a person (it can be shown as-is in the upload
form); the technical cause, when there is one, is chained as ``__cause__``.
"""

from __future__ import annotations


class MediaError(Exception):
    """The file is not a usable video (or a media operation failed).

    ``str(err)`` is a sentence meant for the person who uploaded the file.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MediaCancelled(Exception):
    """``should_stop()`` returned True; the operation stopped and left no output behind."""
