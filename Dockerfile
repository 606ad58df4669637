# vmlogind container image: a Debian 12 build stage, then a slim runtime with only the shared
# libraries, running as an unprivileged user with the database on a volume.
#   docker build -t vmlogind .
#   docker run -v vmlogind-data:/var/lib/vmlogind -p 8080:8080 \
#       -e VMLOGIND_TENANT_ID=... -e VMLOGIND_CLIENT_ID=... \
#       -e VMLOGIND_CLIENT_SECRET_FILE=/run/secrets/client-secret \
#       -v "$PWD/client-secret:/run/secrets/client-secret:ro" vmlogind
# Extra arguments are appended to the entrypoint: `--config /etc/vmlogind/vmlogind.conf`, or a
# subcommand such as `keys create --name ops --role operator` and `audit verify`.

FROM debian:12-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev libssl-dev libpq-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
    && cmake --build /build -j"$(nproc)" --target vmlogind \
    && strip /build/server/vmlogind \
    && /build/server/vmlogind --version

FROM debian:12-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libmicrohttpd12 libcurl4 libjansson4 libsqlite3-0 libssl3 libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 vmlogind \
    && useradd --system --uid 10001 --gid vmlogind --home-dir /var/lib/vmlogind \
        --no-create-home --shell /usr/sbin/nologin vmlogind \
    && install -d -o vmlogind -g vmlogind -m 0750 /var/lib/vmlogind
COPY --from=build /build/server/vmlogind /usr/local/bin/vmlogind
COPY deploy/vmlogind.conf.example /etc/vmlogind/vmlogind.conf.example

# Numeric ids, so Kubernetes' runAsNonRoot can check them without reading /etc/passwd.
USER 10001:10001
WORKDIR /var/lib/vmlogind
VOLUME ["/var/lib/vmlogind"]
EXPOSE 8080
# No curl in the image: bash's /dev/tcp asks /healthz. Plain HTTP only; with native TLS
# (tls_cert_file) drop this and rely on the orchestrator's probes (deploy/kubernetes/).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/vmlogind", "--listen", "0.0.0.0:8080", "--db", "/var/lib/vmlogind/vmlogind.db"]
CMD []
