"""The tax authority (ARCA) that authorizes vouchers with a CAE, behind a port shaped like
WSFEv1's FECAESolicitar, so that a SOAP client is a thin translation of it: the request carries
a header (point of sale and voucher type) and one detail per voucher, with the manual's field
names in snake case."""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Protocol

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
class AssociatedVoucher:
    """CbteAsoc: the voucher a credit or debit note corrects, and its issuer's CUIT."""

    tipo: int
    pto_vta: int
    nro: int
    cuit: str | None
    cbte_fch: date


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
    cbtes_asoc: tuple[AssociatedVoucher, ...] = ()
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
class Event:
    """An Obs or Err of an answer: the authority's code and message."""

    code: int
    msg: str


@dataclass(frozen=True)
class VoucherAnswer:
    """FECAEDetResponse: one voucher's result, A (authorized, with its CAE) or R (rejected, with
    the authority's observations)."""

    cbte_desde: int
    resultado: str
    cae: str | None = None
    cae_fch_vto: date | None = None
    observaciones: tuple[Event, ...] = ()

    @property
    def authorized(self) -> bool:
        return self.resultado == "A"


@dataclass(frozen=True)
class AuthorizationAnswer:
    """FECAESolicitarResult: Resultado A (all authorized), R (all rejected) or P (partly), one
    answer per voucher in the order they were sent, and the call's Errors."""

    resultado: str
    details: tuple[VoucherAnswer, ...]
    errors: tuple[Event, ...] = ()


@dataclass(frozen=True)
class VoucherRecord:
    """FECompConsultar's answer: a voucher the authority authorized, as it keeps it."""

    cbte_tipo: int
    pto_vta: int
    cbte_nro: int
    cbte_fch: date
    doc_tipo: int
    doc_nro: int
    imp_total: Decimal
    cae: str
    cae_fch_vto: date


class CaeAuthority(Protocol):
    """The tax authority's port: FECAESolicitar, FECompUltimoAutorizado and FECompConsultar. Any
    call may raise CaeUnavailable: no answer came, and whether the authority acted is unknown."""

    def authorize(self, request: AuthorizationRequest) -> AuthorizationAnswer:
        """Authorizes up to MAX_INVOICES_PER_CALL vouchers of one book, in order."""

    def last_authorized(self, pto_vta: int, cbte_tipo: int) -> int:
        """The number of the book's last authorized voucher (0 if none)."""

    def lookup(self, pto_vta: int, cbte_tipo: int, cbte_nro: int) -> VoucherRecord | None:
        """The authorized voucher of that number, or None if the authority has none."""
