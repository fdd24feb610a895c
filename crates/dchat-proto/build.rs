//! Compiles the .proto files with protox (pure Rust), so building needs no `protoc`.

use prost::Message;

const PROTOS: [&str; 5] = [
    "auth/v1/auth.proto",
    "room/v1/room.proto",
    "message/v1/message.proto",
    "presence/v1/presence.proto",
    "gateway/v1/gateway.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let file_descriptors = protox::compile(PROTOS, ["proto"])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // Reflection serves this set, so grpcurl and friends work without .proto files.
    std::fs::write(out_dir.join("dchat_descriptor.bin"), file_descriptors.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Decodes from one slice; see src/codec.rs.
        .codec_path("crate::codec::SliceCodec")
        .compile_fds(file_descriptors)?;
    Ok(())
}
