# MyBitcoinFuture backend image (classic builder syntax: no BuildKit needed; docs/deploy.md).
#   docker build -t mybitcoinfuture .
#   docker run -d -p 8000:8000 -v mbf-data:/data --name mbf mybitcoinfuture
#
# Stages: `assets` installs GraphiQL from npm (pinned by web/graphiql/package-lock.json, integrity-checked by
# `npm ci`) and lays it out in app/http/static/graphiql; `build` builds the wheel (with those assets and the
# migrations inside) and installs it into a venv; `runtime` is a slim Python with only that venv, run as a
# non-root user, data in the /data volume.

# Base images: tags by default; pin digests at build time (docs/deploy.md shows how), e.g.
#   --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest>
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS assets
WORKDIR /src
COPY web/graphiql/ web/graphiql/
COPY scripts/build-graphiql.sh scripts/build-graphiql.sh
RUN bash scripts/build-graphiql.sh \
 && test -s app/http/static/graphiql/index.html \
 && rm -rf /root/.npm

# ---------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/mbf \
 && /opt/mbf/bin/pip install --upgrade pip setuptools wheel
COPY pyproject.toml README.md constraints.txt ./
COPY app/ app/
COPY schema/ schema/
COPY resolvers/ resolvers/
COPY subscriptions/ subscriptions/
COPY migrations/ migrations/
COPY --from=assets /src/app/http/static/graphiql/ app/http/static/graphiql/
# Build the wheel (package data: migrations, GraphiQL assets, bundled price history), install it with its
# dependencies at the versions of constraints.txt (binary wheels preferred; there is no compiler here, so only pure-Python sdists such as embit's
# build), then check that the installed package is whole: migrations and GraphiQL found where the app looks.
RUN /opt/mbf/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/mbf/bin/pip install --prefer-binary -c constraints.txt /wheels/*.whl \
 && cd / \
 && /opt/mbf/bin/python -c "import pathlib, app.store.migrate as m, app.http.graphiql as g; \
assert (m.MIGRATIONS_DIR / 'env.py').is_file() and any((m.MIGRATIONS_DIR / 'versions').glob('0001_*.py')), m.MIGRATIONS_DIR; \
assert g.assets_present(), g.GRAPHIQL_DIR" \
 && /opt/mbf/bin/mbf --help >/dev/null

# ---------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="MyBitcoinFuture backend" \
      org.opencontainers.image.description="Self-hosted watch-only bitcoin portfolio backend (GraphQL)" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/mbf/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MBF_ENV=production \
    MBF_DATA_DIR=/data \
    MBF_HOST=0.0.0.0 \
    MBF_PORT=8000
# pg_dump/pg_restore for `mbf backup`/`mbf restore` against PostgreSQL (bookworm's client is major 15: it
# dumps servers up to 15; for a newer server build from an image whose client matches, docs/operations-backup.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 mbf \
 && useradd --system --uid 10001 --gid mbf --home-dir /data --no-create-home --shell /usr/sbin/nologin mbf \
 && mkdir -p /data /app \
 && chown mbf:mbf /data \
 && chmod 0700 /data
COPY --from=build /opt/mbf /opt/mbf
# An empty working directory: settings read `.env` from here, and nothing is there unless you mount it.
WORKDIR /app
USER 10001:10001
VOLUME /data
EXPOSE 8000
# Liveness only (process up and serving); /readyz reports the database and other dependencies.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MBF_PORT', '8000'), timeout=4).read()"]
# SIGTERM: in-flight requests finish (up to 30 s) and WebSockets close properly; use `docker stop -t 35`.
STOPSIGNAL SIGTERM
CMD ["mbf", "serve"]
