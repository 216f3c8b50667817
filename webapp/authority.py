"""The simulated tax authority (ARCA's WSFEv1), another system than Lote: it keeps the vouchers it
authorized in a table of its own (``AUTHORITY_DATABASE_URL``, by default Lote's database),
written on connections of its own and committed at once, never inside Lote's transaction, so
every consumer shares them and they survive restarts. It validates each voucher as the real one
does and answers with the manual's codes; within a call it stops at the first rejected voucher,
and every later one is rejected with 10016 (its number is no longer the next).

Knobs: ``latency_ms`` per call, ``failure_rate`` (calls that fail unanswered, before the
authority acts), ``lost_answer_rate`` (calls the authority carries out but whose answer is
lost), and ``advance`` (another system using a book's numbers)."""

import random
import threading
import time
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Column,
    Date,
    Integer,
    MetaData,
    Table,
    create_engine,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from stdnum.ar import cuit as stdnum_cuit

from webapp.billing.cae import (
    CAE_VALIDITY_DAYS,
    MAX_INVOICES_PER_CALL,
    TYPE_DIGIT,
    AuthorizationAnswer,
    AuthorizationRequest,
    CaeUnavailable,
    Event,
    VoucherAnswer,
    VoucherDetail,
    VoucherRecord,
)
from webapp.billing.messages import Message

metadata = MetaData()
# The vouchers the authority authorized, one row per run of consecutive numbers authorized at
# once on a book (a call's, or another system's): numbers ``cbte_desde`` to ``cbte_hasta``, the
# last one's date, and each voucher as FECompConsultar answers it (``vouchers``, in number
# order: ``_kept``). A call of 250 writes one row.
runs = Table(
    "authority_runs",
    metadata,
    Column("pto_vta", Integer, primary_key=True, autoincrement=False),
    Column("cbte_tipo", Integer, primary_key=True, autoincrement=False),
    Column("cbte_desde", Integer, primary_key=True, autoincrement=False),
    Column("cbte_hasta", Integer, nullable=False),
    Column("cbte_fch", Date, nullable=False),
    Column("vouchers", JSON, nullable=False),
)
# Voucher classes: A needs a CUIT receiver; C may not report IVA.
CLASS_A = frozenset({1, 2, 3})
CLASS_C = frozenset({11, 12, 13})
NOTES = frozenset({2, 3, 7, 8, 12, 13})
RECEIVER_CONDITIONS = frozenset({1, 4, 5, 6, 7, 8, 9, 10, 13, 15, 16})
NOT_NEXT = Event(
    10016, "El numero o fecha del comprobante no se corresponde con el proximo a autorizar"
)
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def storage(url: str) -> Engine:
    """The authority's own engine for ``url``, its tables created on first use; one per process
    and URL, like a service's connection pool."""
    with _engines_lock:
        if url not in _engines:
            # On SQLite the process's engine events (webapp/__init__.py) give its transactions
            # the write lock before their first write or locking read, and a busy timeout.
            engine = create_engine(url, pool_pre_ping=True)
            metadata.create_all(engine, checkfirst=True)
            _engines[url] = engine
        return _engines[url]


def _rejection(detail: VoucherDetail, cbte_tipo: int, last: int, last_date) -> Event | None:
    """Why the authority rejects a voucher, if it does (WSFEv1 manual codes)."""
    if detail.cbte_desde != last + 1 or detail.cbte_hasta != detail.cbte_desde:
        return NOT_NEXT
    if last_date is not None and detail.cbte_fch < last_date:
        return NOT_NEXT
    if cbte_tipo in CLASS_A and detail.doc_tipo != 80:
        return Event(10013, "Para comprobantes clase A el campo DocTipo debe ser 80 (CUIT)")
    if detail.doc_tipo in (80, 86) and not stdnum_cuit.is_valid(f"{detail.doc_nro:011d}"):
        return Event(10015, "El campo DocNro es invalido")
    if detail.doc_tipo == 99 and detail.doc_nro != 0:
        return Event(10015, "Para DocTipo 99 el campo DocNro debe ser 0")
    if detail.condicion_iva_receptor_id not in RECEIVER_CONDITIONS:
        return Event(10246, "El campo Condicion Frente al IVA del receptor es obligatorio")
    if cbte_tipo in NOTES and not detail.cbtes_asoc:
        return Event(
            10197, "Si el comprobante es Debito o Credito, enviar estructura CbteAsoc o PeriodoAsoc"
        )
    if cbte_tipo in CLASS_C and (detail.iva or detail.imp_iva):
        return Event(10071, "Para comprobantes tipo C el objeto IVA no debe informarse")
    total = (
        detail.imp_tot_conc + detail.imp_neto + detail.imp_op_ex + detail.imp_trib + detail.imp_iva
    )
    if total != detail.imp_total:
        return Event(
            10048,
            "El campo ImpTotal debe ser igual a la suma de ImpTotConc, ImpNeto, ImpOpEx, "
            "ImpTrib e ImpIVA",
        )
    return None


def _kept(
    cbte_fch: date, doc_tipo: int, doc_nro: int, imp_total: Decimal, cae: str, due: date
) -> dict:
    """An authorized voucher as the authority keeps it in its run: its date, receiver, total,
    CAE and the CAE's due date."""
    return {
        "cbte_fch": cbte_fch.isoformat(),
        "doc_tipo": doc_tipo,
        "doc_nro": str(doc_nro),
        "imp_total": str(imp_total),
        "cae": cae,
        "cae_fch_vto": due.isoformat(),
    }


def _keep(conn, pto_vta: int, cbte_tipo: int, last: int, last_date, stored: list[dict]) -> None:
    """Keeps the run of vouchers ``stored`` that ends at number ``last`` on the book."""
    if stored:
        conn.execute(
            insert(runs).values(
                pto_vta=pto_vta,
                cbte_tipo=cbte_tipo,
                cbte_desde=last - len(stored) + 1,
                cbte_hasta=last,
                cbte_fch=last_date,
                vouchers=stored,
            )
        )


class SimulatedAuthority:
    """WSFEv1 as Lote's port sees it, kept in ``storage(url)``. The CAE encodes the voucher it
    authorizes (type, point of sale, number), so it is unique whenever voucher numbers are."""

    def __init__(
        self,
        url: str,
        latency_ms: int = 0,
        failure_rate: float = 0.0,
        lost_answer_rate: float = 0.0,
    ):
        self.url = url
        self.latency_ms = latency_ms
        self.failure_rate = failure_rate
        self.lost_answer_rate = lost_answer_rate
        self._random = random.Random()

    @property
    def engine(self) -> Engine:
        return storage(self.url)

    def _answer_or_not(self) -> None:
        """The network: the call's latency, and sometimes no answer before the authority acts."""
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        if self.failure_rate and self._random.random() < self.failure_rate:
            raise CaeUnavailable(Message("invoicing.cae_unanswered"))

    def authorize(self, request: AuthorizationRequest) -> AuthorizationAnswer:
        if request.cant_reg > MAX_INVOICES_PER_CALL:
            raise ValueError(f"at most {MAX_INVOICES_PER_CALL} vouchers per call")
        self._answer_or_not()
        answers, stored = [], []
        prefix = f"{TYPE_DIGIT[request.cbte_tipo]}{request.pto_vta:05d}"
        with self.engine.begin() as conn:
            last, last_date = self._last(conn, request.pto_vta, request.cbte_tipo, lock=True)
            rejected = False
            for detail in request.details:
                problem = (
                    NOT_NEXT if rejected else _rejection(detail, request.cbte_tipo, last, last_date)
                )
                if problem is not None:
                    rejected = True
                    answers.append(VoucherAnswer(detail.cbte_desde, "R", observaciones=(problem,)))
                    continue
                cae = f"{prefix}{detail.cbte_desde:08d}"
                due = detail.cbte_fch + timedelta(CAE_VALIDITY_DAYS)
                answers.append(VoucherAnswer(detail.cbte_desde, "A", cae, due))
                stored.append(
                    _kept(
                        detail.cbte_fch, detail.doc_tipo, detail.doc_nro, detail.imp_total, cae, due
                    )
                )
                last, last_date = detail.cbte_desde, detail.cbte_fch
            _keep(conn, request.pto_vta, request.cbte_tipo, last, last_date, stored)
        if self.lost_answer_rate and self._random.random() < self.lost_answer_rate:
            raise CaeUnavailable(Message("invoicing.answer_lost"))
        results = {answer.resultado for answer in answers}
        resultado = results.pop() if len(results) == 1 else "P"
        return AuthorizationAnswer(resultado, tuple(answers))

    @staticmethod
    def _last(conn, pto_vta: int, cbte_tipo: int, lock: bool = False):
        """The book's last number and date; ``lock`` serializes the callers that write the book,
        as the authority does (on SQLite by taking the write lock before reading)."""
        query = (
            select(runs.c.cbte_hasta, runs.c.cbte_fch)
            .where(runs.c.pto_vta == pto_vta, runs.c.cbte_tipo == cbte_tipo)
            .order_by(runs.c.cbte_desde.desc())
            .limit(1)
        )
        if lock and conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(pto_vta * 100 + cbte_tipo)))
        row = conn.execute(query).first()
        return (row.cbte_hasta, row.cbte_fch) if row else (0, None)

    def last_authorized(self, pto_vta: int, cbte_tipo: int) -> int:
        self._answer_or_not()
        with self.engine.connect() as conn:
            return self._last(conn, pto_vta, cbte_tipo)[0]

    def lookup(self, pto_vta: int, cbte_tipo: int, cbte_nro: int) -> VoucherRecord | None:
        self._answer_or_not()
        with self.engine.connect() as conn:
            run = conn.execute(
                select(runs.c.cbte_desde, runs.c.cbte_hasta, runs.c.vouchers)
                .where(
                    runs.c.pto_vta == pto_vta,
                    runs.c.cbte_tipo == cbte_tipo,
                    runs.c.cbte_desde <= cbte_nro,
                )
                .order_by(runs.c.cbte_desde.desc())
                .limit(1)
            ).first()
        if run is None or cbte_nro > run.cbte_hasta:
            return None
        kept = run.vouchers[cbte_nro - run.cbte_desde]
        return VoucherRecord(
            cbte_tipo=cbte_tipo,
            pto_vta=pto_vta,
            cbte_nro=cbte_nro,
            cbte_fch=date.fromisoformat(kept["cbte_fch"]),
            doc_tipo=kept["doc_tipo"],
            doc_nro=int(kept["doc_nro"]),
            imp_total=Decimal(kept["imp_total"]),
            cae=kept["cae"],
            cae_fch_vto=date.fromisoformat(kept["cae_fch_vto"]),
        )

    def advance(self, pto_vta: int, cbte_tipo: int, count: int, cbte_fch) -> int:
        """Another system authorizes ``count`` vouchers on the book (to an unidentified
        consumer); returns the book's new last number."""
        with self.engine.begin() as conn:
            last, last_date = self._last(conn, pto_vta, cbte_tipo, lock=True)
            day = max(cbte_fch, last_date) if last_date else cbte_fch
            prefix = f"{TYPE_DIGIT[cbte_tipo]}{pto_vta:05d}"
            due = day + timedelta(CAE_VALIDITY_DAYS)
            stored = [
                _kept(day, 99, 0, Decimal("100.00"), f"{prefix}{number:08d}", due)
                for number in range(last + 1, last + count + 1)
            ]
            _keep(conn, pto_vta, cbte_tipo, last + count, day, stored)
        return last + count

    def forget_everything(self) -> None:
        """Empties the authority's books (the tests' fresh start)."""
        with self.engine.begin() as conn:
            conn.execute(runs.delete())
