# syntax=docker/dockerfile:1
# The function's runtime image: exactly the dependencies pinned (with hashes) in requirements.lock,
# then the function itself without resolving anything, served as non-root over mTLS.
# Build both architectures and the packages with ./scripts/package; tests/test_image.py runs the
# same two pip commands in a fresh venv and serves RunFunction over mTLS from it.

# Debian 12, as the distroless runtime below: the venv's python must be the same Python 3.11.
FROM debian:12-slim AS build
RUN apt-get update \
    && apt-get install --no-install-recommends --yes python3-venv \
    && rm -rf /var/lib/apt/lists/*
# No .pyc files: nothing in a container would keep them.
ENV PYTHONDONTWRITEBYTECODE=true
RUN python3 -m venv /venv/fn
COPY requirements.lock /build/requirements.lock
RUN /venv/fn/bin/pip install --no-cache-dir --require-hashes -r /build/requirements.lock
COPY pyproject.toml README.md /build/
COPY function /build/function
RUN /venv/fn/bin/pip install --no-cache-dir --no-deps /build

# The venv keeps its path: its scripts' shebangs and its python symlink point there.
FROM gcr.io/distroless/python3-debian12 AS image
COPY --from=build /venv/fn /venv/fn
# Crossplane mounts the function's server certificate, key and CA here and sets this variable; the
# function refuses plaintext unless started with --insecure.
ENV TLS_SERVER_CERTS_DIR=/tls/server
EXPOSE 9443
USER nonroot:nonroot
ENTRYPOINT ["/venv/fn/bin/function-rds"]
