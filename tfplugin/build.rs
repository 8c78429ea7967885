//! Compiles the plugin protocol's .proto files with a pure-Rust compiler, so building
//! needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto");
    let files = ["tfplugin6.proto", "grpc_controller.proto", "grpc_stdio.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={}", proto_dir.join(file).display());
    }
    let descriptors = protox::compile(files, [&proto_dir])?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
