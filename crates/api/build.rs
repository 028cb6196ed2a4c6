//! Compiles the protobuf messages under `proto/` (Seldon's `seldon.protos` and the
//! TensorFlow tensor types it carries, and the Open Inference Protocol's `inference`)
//! with prost, and the proto3 JSON mapping of Seldon's with pbjson, using the `protoc` that `protoc-bin-vendored` ships (nothing to install).

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/seldon/protos/prediction.proto",
    "proto/inference/grpc_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptors = out.join("descriptors.bin");
    let well_known = protoc_bin_vendored::include_path()?;
    prost_build::Config::new()
        .protoc_executable(protoc_bin_vendored::protoc_bin_path()?)
        .file_descriptor_set_path(&descriptors)
        .compile_well_known_types()
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_protos(PROTOS, &[PathBuf::from("proto"), well_known])?;
    pbjson_build::Builder::new()
        .register_descriptors(&std::fs::read(&descriptors)?)?
        .build(&[".seldon.protos", ".tensorflow"])?;
    Ok(())
}
