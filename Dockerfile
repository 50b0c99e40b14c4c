# The monitor as a container: slim Python, a non-root user, the config mounted read-only at
# /config, no secret in the image (everything secret comes from the environment at run time).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY monitor ./monitor
# A wheel install: the migrations travel inside the package (monitor/_alembic).
RUN pip install . && rm -rf /app/monitor /app/alembic

RUN useradd --system --uid 10001 --user-group --home-dir /data --create-home monitor
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh

USER monitor
# SQLite in the /data volume when no PostgreSQL URL is given; compose sets PostgreSQL.
ENV MONITOR_DATABASE_URL=sqlite+aiosqlite:////data/monitor.db \
    MONITOR_LISTEN=0.0.0.0:8080 \
    MONITOR_CONFIG=/config
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

ENTRYPOINT ["docker-entrypoint.sh"]
