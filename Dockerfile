# The cyberlm binary in a slim image. Build: docker build -t cyberlm .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p pipeline --locked && strip target/release/cyberlm

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /cyberlm
COPY --from=build /src/target/release/cyberlm /usr/local/bin/cyberlm
COPY config ./config
COPY rules ./rules
ENTRYPOINT ["cyberlm"]
CMD ["demo"]
