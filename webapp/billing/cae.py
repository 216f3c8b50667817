"""The tax authority (AFIP) that authorizes invoices with a CAE, behind a small interface so a real
client can replace the simulated one."""

import random
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

MAX_INVOICES_PER_CALL = 250
CAE_VALIDITY_DAYS = 10
BOOK_LETTER_DIGIT = {"A": "1", "B": "2", "C": "3"}


class CaeUnavailable(Exception):
    """The authority did not answer; the attempt may be retried."""


@dataclass(frozen=True)
class CaeRequest:
    receipt_book: str
    sequence_number: int
    issue_date: date
    amount: Decimal


@dataclass(frozen=True)
class Authorization:
    cae: str
    due_date: date


class CaeAuthority(Protocol):
    def authorize(self, requests: list[CaeRequest]) -> list[Authorization]:
        """Authorizes up to MAX_INVOICES_PER_CALL invoices, in order."""


class SimulatedCaeAuthority:
    """Answers like AFIP: a 14-digit CAE per invoice and a due date 10 days after issue.

    The simulated CAE encodes the voucher it authorizes (letter, point of sale, number), so it is
    unique whenever invoice numbers are, across processes and restarts, which a clock or a random
    draw cannot promise."""

    def __init__(self, latency_ms: int = 0, failure_rate: float = 0.0):
        self.latency_ms = latency_ms
        self.failure_rate = failure_rate
        self._random = random.Random()

    def authorize(self, requests: list[CaeRequest]) -> list[Authorization]:
        if len(requests) > MAX_INVOICES_PER_CALL:
            raise ValueError(f"at most {MAX_INVOICES_PER_CALL} invoices per call")
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        if self.failure_rate and self._random.random() < self.failure_rate:
            raise CaeUnavailable("The tax authority (CAE) did not answer")
        return [
            Authorization(
                cae=self._cae_for(r), due_date=r.issue_date + timedelta(CAE_VALIDITY_DAYS)
            )
            for r in requests
        ]

    @staticmethod
    def _cae_for(request: CaeRequest) -> str:
        letter, point_of_sale = request.receipt_book.split("-")
        return f"{BOOK_LETTER_DIGIT[letter]}{int(point_of_sale):05d}{request.sequence_number:08d}"
