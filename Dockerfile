# syntax=docker/dockerfile:1
# The energy-ingest image: one console script, `energy-ingest`, for every role
# (worker, migrate, topics, partitions, simulate, publish, replay, ...). See docs/deployment.md.

# ---- build: a virtualenv with the package and its dependencies --------------------------------
FROM python:3.11-slim AS build

# Compilers only here, for any dependency without a wheel for this platform.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv
RUN python -m venv "$VIRTUAL_ENV"
ENV PATH="$VIRTUAL_ENV/bin:$PATH"

WORKDIR /src
# Dependencies first, so that code changes reuse this layer.
COPY pyproject.toml README.md* ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))\
['project']['dependencies']))" > requirements.txt \
    && pip install -r requirements.txt
COPY db ./db
COPY processor ./processor
COPY producers ./producers
RUN pip install --no-deps . && energy-ingest --help > /dev/null

# ---- runtime: slim, no compilers, not root ----------------------------------------------------
FROM python:3.11-slim AS runtime

RUN groupadd --system --gid 10001 energy \
    && useradd --system --uid 10001 --gid energy --create-home --home-dir /home/energy energy

COPY --from=build /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WEB_BIND=0.0.0.0 \
    WEB_PORT=3000 \
    DATA_DIR=/home/energy/data

WORKDIR /home/energy
USER energy:energy
EXPOSE 3000

ENTRYPOINT ["energy-ingest"]
CMD ["worker"]
