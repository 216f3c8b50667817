"""The tax authority (ARCA) that authorizes vouchers with a CAE, behind a port shaped like
WSFEv1's FECAESolicitar, so that a SOAP client is a thin translation of it: the request carries
a header (point of sale and voucher type) and one detail per voucher, with the manual's field
names in snake case."""

import random
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

from webapp.billing.messages import Message

MAX_INVOICES_PER_CALL = 250
CAE_VALIDITY_DAYS = 10
# Concepto 2: services, so every voucher carries its service period and payment due date.
SERVICES_CONCEPT = 2
PESOS = "PES"
# One digit per voucher type in the simulated CAE; Factura A, B and C keep the digits they had.
TYPE_DIGIT = {1: "1", 6: "2", 11: "3", 2: "4", 3: "5", 7: "6", 8: "7", 12: "8", 13: "9"}


class CaeUnavailable(Exception):
    """The authority did not answer; the attempt may be retried."""


@dataclass(frozen=True)
class VatLine:
    """AlicIva: the IVA of one rate (Id 3 = 0%, 4 = 10.5%, 5 = 21%, 6 = 27%, 8 = 5%, 9 = 2.5%)."""

    id: int
    base_imp: Decimal
    importe: Decimal


@dataclass(frozen=True)
class VoucherDetail:
    """FECAEDetRequest: one voucher, numbered ``cbte_desde`` (= ``cbte_hasta``)."""

    doc_tipo: int
    doc_nro: int
    cbte_desde: int
    cbte_hasta: int
    cbte_fch: date
    imp_total: Decimal
    imp_neto: Decimal
    imp_iva: Decimal
    imp_op_ex: Decimal
    fch_serv_desde: date
    fch_serv_hasta: date
    fch_vto_pago: date
    condicion_iva_receptor_id: int
    iva: tuple[VatLine, ...] = ()
    concepto: int = SERVICES_CONCEPT
    imp_tot_conc: Decimal = Decimal("0.00")
    imp_trib: Decimal = Decimal("0.00")
    mon_id: str = PESOS
    mon_cotiz: Decimal = Decimal("1")


@dataclass(frozen=True)
class AuthorizationRequest:
    """FECAESolicitar: FeCabReq (``pto_vta``, ``cbte_tipo``, CantReg) and FeDetReq."""

    pto_vta: int
    cbte_tipo: int
    details: tuple[VoucherDetail, ...] = field(default_factory=tuple)

    @property
    def cant_reg(self) -> int:
        return len(self.details)


@dataclass(frozen=True)
class Authorization:
    """FECAEDetResponse of an authorized voucher (Resultado A)."""

    cbte_desde: int
    cae: str
    cae_fch_vto: date


class CaeAuthority(Protocol):
    def authorize(self, request: AuthorizationRequest) -> list[Authorization]:
        """Authorizes up to MAX_INVOICES_PER_CALL vouchers of one book, in order."""


class SimulatedCaeAuthority:
    """Answers like ARCA: a 14-digit CAE per voucher and a due date 10 days after issue.

    The simulated CAE encodes the voucher it authorizes (type, point of sale, number), so it is
    unique whenever voucher numbers are, across processes and restarts, which a clock or a
    random draw cannot promise."""

    def __init__(self, latency_ms: int = 0, failure_rate: float = 0.0):
        self.latency_ms = latency_ms
        self.failure_rate = failure_rate
        self._random = random.Random()

    def authorize(self, request: AuthorizationRequest) -> list[Authorization]:
        if request.cant_reg > MAX_INVOICES_PER_CALL:
            raise ValueError(f"at most {MAX_INVOICES_PER_CALL} vouchers per call")
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        if self.failure_rate and self._random.random() < self.failure_rate:
            raise CaeUnavailable(Message("invoicing.cae_unanswered"))
        prefix = f"{TYPE_DIGIT[request.cbte_tipo]}{request.pto_vta:05d}"
        return [
            Authorization(
                cbte_desde=detail.cbte_desde,
                cae=f"{prefix}{detail.cbte_desde:08d}",
                cae_fch_vto=detail.cbte_fch + timedelta(CAE_VALIDITY_DAYS),
            )
            for detail in request.details
        ]
