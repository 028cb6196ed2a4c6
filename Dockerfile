# The one sluice image: `sluice operator` (the controller and its webhook), `sluice engine`
# (the orchestrator in every predictor pod) and the CLI.
#   docker build -t ghcr.io/sluice-project/sluice:0.1.0 .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p sluice && cp target/release/sluice /sluice

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /sluice /usr/local/bin/sluice
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/sluice"]
