# finsam serve in a container: built in one stage, run in a small one as the non-root user
# finsam, with the store and the key that seals its derived state on two volumes
# (docs/operations.md).
#
#   docker build -t finsam .
#   docker volume create finsam-store && docker volume create finsam-key
#   docker run --rm -v finsam-store:/var/lib/finsam -v finsam-key:/var/lib/finsam-key finsam init
#   docker run --rm -v finsam-store:/var/lib/finsam -v finsam-key:/var/lib/finsam-key finsam \
#       user add it-admin --role admin --by it
#   docker run -d --name finsam -p 127.0.0.1:8080:8080 \
#       -v finsam-store:/var/lib/finsam -v finsam-key:/var/lib/finsam-key finsam

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY events events
COPY fixtures fixtures
COPY tests tests
RUN cargo build --release --locked --bin finsam

FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 finsam \
    && useradd --system --uid 10001 --gid finsam --home-dir /var/lib/finsam --shell /usr/sbin/nologin finsam \
    && mkdir -p /var/lib/finsam /var/lib/finsam-key \
    && chown finsam:finsam /var/lib/finsam /var/lib/finsam-key \
    && chmod 0700 /var/lib/finsam /var/lib/finsam-key
COPY --from=build /src/target/release/finsam /usr/local/bin/finsam
USER 10001:10001
ENV FINSAM_STORE=/var/lib/finsam \
    FINSAM_KEY_FILE=/var/lib/finsam-key/derived.key \
    LANG=C.UTF-8
VOLUME ["/var/lib/finsam", "/var/lib/finsam-key"]
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/finsam"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
