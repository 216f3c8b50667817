"""/api/tax-books: the monthly sales book of the Libro IVA Digital."""

from webapp.api import blp, route
from webapp.api.schemas import TaxBookQuery
from webapp.downloads import tax_book_download

TAG = "Tax books"
TEXT_FILE = {"schema": {"type": "string"}}


@route("/tax-books/<month>", TAG, methods=["GET"])
@blp.arguments(TaxBookQuery, location="query")
@blp.doc(
    responses={
        200: {
            "description": "LID-ventas-yyyy-mm.zip with the vouchers file "
            "(REGINFO_CV_VENTAS_CBTE) and the rates file (REGINFO_CV_VENTAS_ALICUOTAS) in "
            "ARCA's fixed-width format; with ?file=, that file alone as ISO-8859-1 text with "
            "CR LF line ends",
            "content": {
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
                "text/plain": TEXT_FILE,
            },
        },
        400: "BAD_REQUEST",
    },
)
def tax_book(query, month):
    """The sales book of ARCA's Libro IVA Digital for the month written yyyy-mm (2026-03), for
    any signed-in role; its totals equal the month's invoice statistics. A malformed month or
    one in the future is a 400."""
    return tax_book_download(month, query.get("file"))
