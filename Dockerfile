# One image for every role: `docker run dchat serve`, or one role per container (see
# deploy/docker-compose.yml). The build needs no protoc: protobuf is compiled by protox.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin dchat

FROM debian:bookworm-slim
RUN useradd --system --home /data dchat && mkdir -p /data && chown dchat /data
COPY --from=build /src/target/release/dchat /usr/local/bin/dchat
USER dchat
WORKDIR /data
ENV DCHAT_DATA_DIR=/data
ENTRYPOINT ["dchat"]
CMD ["serve", "--http-bind", "0.0.0.0:8080"]
