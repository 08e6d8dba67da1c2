# syntax=docker/dockerfile:1

# ---- build ----
FROM rust:1-bookworm AS build
WORKDIR /src
# Queries are checked against the committed .sqlx data, not a live database.
ENV SQLX_OFFLINE=true
# The git revision for vemt_build_info and --version (.git is not copied):
#   docker build --build-arg VEMT_GIT_REVISION=$(git rev-parse --short=12 HEAD) .
ARG VEMT_GIT_REVISION=unknown

# Build the dependencies alone first (against stub sources), so that a change
# to our code reuses that layer instead of recompiling every crate.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked --bin vemt \
 && rm -rf src target/release/vemt* target/release/deps/vemt-* \
           target/release/deps/libvemt-* target/release/.fingerprint/vemt-* \
           target/release/build/vemt-*

COPY build.rs ./
COPY .sqlx ./.sqlx
COPY migrations ./migrations
COPY config ./config
COPY src ./src
RUN cargo build --release --locked --bin vemt

# ---- runtime ----
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 vemt \
 && useradd --uid 10001 --gid vemt --no-create-home --home-dir /app --shell /usr/sbin/nologin vemt
COPY --from=build /src/target/release/vemt /usr/local/bin/vemt
COPY config /app/config
# The synthetic examples, to try the service: `vemt publish examples/inbound.jsonl`.
COPY examples/inbound.jsonl examples/simulate.jsonl /app/examples/
WORKDIR /app
ENV APP_ENV=production
# Numeric, so that orchestrators can verify runAsNonRoot.
USER 10001:10001
EXPOSE 8080
# Ready: the database answers and the broker session is up (GET /readyz).
HEALTHCHECK --interval=15s --timeout=6s --start-period=30s --retries=3 \
  CMD ["vemt", "healthcheck"]
ENTRYPOINT ["vemt"]
CMD ["serve"]
