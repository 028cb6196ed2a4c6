# The one sluice image: `sluice operator` (the controller and its webhook), `sluice engine`
# (the orchestrator in every predictor pod) and the CLI.
#   docker build -t ghcr.io/sluice-project/sluice:0.1.0 .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The production profile (Cargo.toml): whole-program optimization, 7-11 % fewer instructions
# per proxied request and a quarter less code than `--release`; linked a second time with the
# functions sluice runs laid out together (crates/cli/layout.txt), which keeps a fraction of
# the code pages resident (bench/README.md, "Code layout"). The second link redoes the
# whole-program optimization: about 6 more minutes on two cores.
RUN scripts/build-ordered production && cp target/production/sluice /sluice

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /sluice /usr/local/bin/sluice
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/sluice"]
