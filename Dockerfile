# Storydesk's image: `storydesk run` as an unprivileged user, dependencies from the lock file.
#
# The base image is pinned by tag and by the digest Docker Hub published for it, so that two
# builds a month apart start from the same bytes. To move to a newer Python, change both
# (`docker buildx imagetools inspect python:3.11.X-slim-bookworm` shows the digest).
# --build-arg PYTHON_IMAGE=... builds on another image, e.g. a mirror's copy.
ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3

# --- Dependencies: their own layer, rebuilt only when requirements.lock changes. ------------
FROM ${PYTHON_IMAGE} AS dependencies
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/storydesk
COPY requirements.lock /tmp/requirements.lock
# --require-hashes: every file must be the one the lock names; a missing pin is an error.
RUN /opt/storydesk/bin/pip install --require-hashes -r /tmp/requirements.lock \
 && rm /tmp/requirements.lock

# --- The project as a wheel: the only step a code change repeats. --------------------------
FROM dependencies AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY config ./config
# The build backend (setuptools) comes from the lock file too: nothing unpinned is fetched.
RUN /opt/storydesk/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /dist .

# --- The image that runs. --------------------------------------------------------------------
FROM dependencies
RUN useradd --create-home --uid 10001 storydesk \
 && install -d -o storydesk -g storydesk /var/lib/storydesk
ENV PATH=/opt/storydesk/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/home/storydesk/.config/matplotlib \
    STORYDESK_HTTP_PORT=3000
# matplotlib scans the fonts on first import (seconds); do it now, as the user that runs
# Storydesk, so that the first weekly chart is not the one that waits.
USER storydesk
RUN python -c "import matplotlib.pyplot"
USER root
COPY --from=wheel /dist /tmp/dist
RUN pip install --no-deps /tmp/dist/*.whl && rm -rf /tmp/dist

USER storydesk
WORKDIR /home/storydesk
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"STORYDESK_HTTP_PORT\", \"3000\")}/healthz', timeout=4)"]
# Exec form: `storydesk` itself receives SIGTERM from `docker stop` (as PID 1, or as the
# direct child of the init process that compose's `init: true` adds) and stops cleanly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["storydesk"]
CMD ["run"]
