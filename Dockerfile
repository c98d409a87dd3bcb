# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /app
RUN python -m venv /venv
COPY pyproject.toml README.md constraints.txt ./
COPY bot bot
COPY handlers handlers
COPY conversations conversations
COPY storage storage
RUN /venv/bin/pip install --no-cache-dir -c constraints.txt '.[redis]'
COPY locales locales
RUN LOCALES_DIR=/app/locales /venv/bin/python -m bot compile-catalogs

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 kuaibao && mkdir /data && chown kuaibao:kuaibao /data
COPY --from=build /venv /venv
COPY --from=build /app/locales /app/locales
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LOCALES_DIR=/app/locales \
    DATABASE_URL=sqlite+aiosqlite:////data/kuaibao.db
USER kuaibao
WORKDIR /data
VOLUME ["/data"]
CMD ["python", "-m", "bot", "run"]
