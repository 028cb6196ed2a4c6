//! Generates the tonic clients and servers of Seldon's gRPC services (`seldon.protos`:
//! the external `Seldon` API and the component APIs `Model`, `Router`, `Transformer`,
//! `OutputTransformer`, `Combiner`, `Generic`) and of the Open Inference Protocol
//! (`inference.GRPCInferenceService`) over the messages `sluice-api` compiles
//! from the same `.proto` file, with the `protoc` that `protoc-bin-vendored` ships.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = PathBuf::from("../api/proto");
    println!("cargo:rerun-if-changed={}", protos.display());
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .extern_path(".seldon.protos", "::sluice_api::proto::seldon::protos")
        .extern_path(".tensorflow", "::sluice_api::proto::tensorflow")
        .extern_path(".inference", "::sluice_api::proto::inference")
        .compile_with_config(
            config,
            &[
                protos.join("seldon/protos/prediction.proto"),
                protos.join("inference/grpc_service.proto"),
            ],
            &[protos, protoc_bin_vendored::include_path()?],
        )?;
    Ok(())
}
