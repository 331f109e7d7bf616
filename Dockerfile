# callhook in a container: a multi-stage build (the toolchain stays in the first stage), a small
# Debian runtime, a non-root user, and the data directory as a volume.
#
#   docker build -t callhook .
#   docker run -p 8480:8480 -v callhook-data:/var/lib/callhook callhook             # SQLite
#   docker run -p 8480:8480 -e CALLHOOK_DATABASE_URL=postgres://… callhook          # PostgreSQL
#
# See docs/deployment.md for several nodes behind a load balancer.

FROM rust:1-bookworm AS build
WORKDIR /src
# aws-lc-rs (signing keys, TLS) builds its C library with cmake when no prebuilt one fits.
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked -p callhook --bin callhook \
    && strip target/release/callhook

FROM debian:bookworm-slim
# ca-certificates: https:// webhooks and PostgreSQL over TLS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 callhook \
    && useradd --system --uid 10001 --gid callhook --home-dir /var/lib/callhook --no-create-home callhook \
    && install -d -o callhook -g callhook -m 0700 /var/lib/callhook
COPY --from=build /src/target/release/callhook /usr/local/bin/callhook
USER callhook:callhook
ENV CALLHOOK_DATA_DIR=/var/lib/callhook \
    CALLHOOK_LISTEN=0.0.0.0:8480
VOLUME ["/var/lib/callhook"]
EXPOSE 8480
ENTRYPOINT ["/usr/local/bin/callhook"]
CMD ["serve"]
