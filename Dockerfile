# onhand API server. Point it at PostgreSQL with ONHAND_DATABASE_URL (and, with several
# replicas, at Redis with ONHAND_BROADCAST_URL=redis://...). Run `onhand migrate` once first.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY server ./server
COPY migrations ./migrations
COPY seed ./seed
RUN pip install . && useradd --system --home /app onhand
USER onhand

ENV ONHAND_HOST=0.0.0.0 ONHAND_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["onhand", "serve"]
