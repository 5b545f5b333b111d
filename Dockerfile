# syntax=docker/dockerfile:1
# Build: docker build -t function-rds-runtime . ; package: crossplane xpkg build -f package
#   --embed-runtime-image=function-rds-runtime
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
RUN python -m venv /venv
COPY pyproject.toml README.md ./
COPY function ./function
RUN /venv/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
COPY --from=build /venv /venv
# Crossplane mounts the function's mTLS certificates here (TLS_SERVER_CERTS_DIR).
ENV TLS_SERVER_CERTS_DIR=/tls/server
USER 65532:65532
EXPOSE 9443
ENTRYPOINT ["/venv/bin/function-rds"]
