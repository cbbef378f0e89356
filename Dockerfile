# syntax=docker/dockerfile:1
# cashbot's image: `docker build -t cashbot .`, then `docker run --env-file .env -p 3000:3000 cashbot`
# (runs `cashbot serve`: web and worker in one process). compose.yaml runs the scale-out shape.
# The install steps are CI's (.ci/run): the hash-checked lock file, then cashbot without deps.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/cashbot
COPY requirements.lock ./
RUN /opt/cashbot/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY templates ./templates
RUN /opt/cashbot/bin/pip install --no-deps . && /opt/cashbot/bin/cashbot --help > /dev/null

FROM python:3.11-slim
# A user of its own, no shell login, owning only its data folder.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/cashbot --create-home \
      --shell /usr/sbin/nologin cashbot
COPY --from=build /opt/cashbot /opt/cashbot
ENV PATH=/opt/cashbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATABASE_URL=sqlite+aiosqlite:////var/lib/cashbot/cashbot.db
USER cashbot
WORKDIR /var/lib/cashbot
VOLUME ["/var/lib/cashbot"]
EXPOSE 3000 9464
# Liveness of the web process (`serve`, `web`); compose.yaml points the worker's at its own port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
ENTRYPOINT ["cashbot"]
CMD ["serve"]
