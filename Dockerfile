# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY config ./config
RUN python -m venv /opt/storydesk && /opt/storydesk/bin/pip install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 storydesk
COPY --from=build /opt/storydesk /opt/storydesk
ENV PATH=/opt/storydesk/bin:$PATH PYTHONUNBUFFERED=1 STORYDESK_HTTP_PORT=3000
WORKDIR /home/storydesk
USER storydesk
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"STORYDESK_HTTP_PORT\", \"3000\")}/healthz', timeout=4)"
CMD ["storydesk", "run"]
