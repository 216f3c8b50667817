"""Errors the domain raises; the HTML and JSON adapters turn each into its status and message."""


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, details: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details


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
