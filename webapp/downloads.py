"""The documents Lote hands out as files, the same for the pages and the API: an invoice's PDF
and a month's sales book."""

from pathlib import Path

from flask import Response, current_app, render_template, stream_with_context
from flask_babel import force_locale

from webapp.billing import printed, tax_book
from webapp.billing.tax_book import TaxBookFile

# The printed invoice is the legal document: it is rendered in Spanish whoever asks for it.
LEGAL_LANGUAGE = "es"


def attachment(filename: str) -> dict:
    """The headers that make an answer a download named ``filename``."""
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def invoice_pdf(invoice_id: int) -> Response:
    """The invoice's PDF, for the page's download link and the API alike: the printed invoice
    rendered alone, in Spanish whatever the reader's language, since it is the legal document."""
    document = printed.printable(invoice_id)
    with force_locale(current_app.config["LANGUAGES"][LEGAL_LANGUAGE]):
        html = render_template("invoices/printed.html", printed=document)
    stylesheet = Path(current_app.static_folder) / "css" / "lote.css"
    return Response(
        printed.pdf_of(html, str(stylesheet)),
        content_type="application/pdf",
        headers=attachment(document.filename),
    )


def tax_book_download(month: str, file: TaxBookFile | None) -> Response:
    """The month's sales book, for the page's form and the API alike: a ZIP of its two files,
    or one of them as text in the format's encoding (ISO-8859-1), streamed as it is read."""
    book = tax_book.tax_book(month)
    if file is None:
        return Response(
            book.zip(), content_type="application/zip", headers=attachment(book.zip_filename)
        )
    return Response(
        stream_with_context(book.encoded(file)),
        content_type=f"text/plain; charset={tax_book.ENCODING}",
        headers=attachment(book.filename(file)),
    )
