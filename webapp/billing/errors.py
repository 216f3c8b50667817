"""Errors the domain raises; the HTML and JSON adapters turn each into its status and message.

An error's message, and each detail's ``message`` or ``reason``, is a ``Message`` (a code with
typed parameters, webapp/billing/messages.py), or plain text for what only scripts read."""

from webapp.billing.messages import Message, english


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: Message | str, details: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return english(self.message)

    def english_details(self) -> list[dict] | None:
        """The details as the API writes them: every message and reason in English."""
        if self.details is None:
            return None
        return [
            {
                name: english(value) if name in ("message", "reason") else value
                for name, value in detail.items()
            }
            for detail in self.details
        ]


class InvalidInput(DomainError):
    """The request is malformed; ``details`` names each field and what is wrong with it."""

    status_code = 400


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    """The record's state does not allow the operation."""

    status_code = 409


class TooLarge(DomainError):
    status_code = 413


class Unavailable(DomainError):
    """An outside system Lote needs for the operation did not answer; it may be tried again."""

    status_code = 503
