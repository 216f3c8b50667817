# One image for the web app (gunicorn), the queue consumer (huey_consumer) and the migration job.

FROM node:20-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts/copy-assets.mjs scripts/
# postinstall copies htmx and Swagger UI into static/vendor
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOTE_ENV=production
# WeasyPrint (the invoices' PDFs) loads Pango and HarfBuzz from the system; a font to draw with.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 lote
WORKDIR /app

# Dependencies first, so a code change does not reinstall them. The app serves templates/,
# static/ and migrations/ from beside the package, so it is installed in place (editable).
COPY pyproject.toml README.md ./
RUN mkdir webapp && touch webapp/__init__.py && pip install -e . && rm -r webapp

COPY webapp webapp
COPY templates templates
COPY static static
COPY migrations migrations
COPY --from=assets /src/static/vendor static/vendor
RUN pip install --no-deps -e . \
    && if ls webapp/translations/*/LC_MESSAGES/*.po >/dev/null 2>&1; then pybabel compile -d webapp/translations; fi \
    && mkdir -p instance && chown lote:lote instance

USER lote
EXPOSE 8000
CMD ["gunicorn", "-w", "3", "-b", "0.0.0.0:8000", "--access-logfile", "-", "webapp:create_app()"]
