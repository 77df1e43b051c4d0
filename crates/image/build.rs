//! Compiles proto/stasis.proto into Rust with protox (no protoc binary needed) and prost-build.
//! Every generated type derives `serde::Serialize` so `stasis show` can print it; `bytes` fields
//! print as hex and enum fields by name, found by walking the schema so new fields get it too.

use std::error::Error;

use protox::prost_reflect::{Kind, MessageDescriptor};

const PROTO_DIR: &str = "proto";
const PROTO_FILE: &str = "stasis.proto";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO_DIR}/{PROTO_FILE}");
    println!("cargo:rerun-if-changed=build.rs");

    let mut compiler = protox::Compiler::new([PROTO_DIR])?;
    compiler.include_source_info(true).open_file(PROTO_FILE)?;
    let pool = compiler.descriptor_pool();

    let mut config = prost_build::Config::new();
    config
        .type_attribute(".", "#[derive(serde::Serialize)]")
        .enum_attribute(".", "#[serde(rename_all = \"snake_case\")]");
    for message in pool.all_messages() {
        add_field_serializers(&mut config, &message)?;
    }
    config.compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}

/// Points serde at the helpers in src/hex.rs and src/pb.rs for the fields whose derived
/// form would be unreadable: bytes (a list of numbers) and enums (a bare i32).
fn add_field_serializers(
    config: &mut prost_build::Config,
    message: &MessageDescriptor,
) -> Result<(), String> {
    for field in message.fields() {
        if field.is_map() {
            continue;
        }
        // prost-build addresses a oneof member as `.pkg.Message.oneof_name.field`.
        let path = match field.containing_oneof() {
            Some(oneof) => format!(".{}.{}.{}", message.full_name(), oneof.name(), field.name()),
            None => format!(".{}.{}", message.full_name(), field.name()),
        };
        let in_oneof = field.containing_oneof().is_some();
        // proto3 `optional` fields become Option<T>; oneof members hold T directly.
        let optional = field.supports_presence() && !in_oneof;
        let helper = match field.kind() {
            Kind::Bytes if field.is_list() && !optional => "crate::hex::serialize_list".to_string(),
            Kind::Bytes if optional => {
                return Err(format!(
                "{path}: repeated or optional bytes field; add a serializer for it to src/hex.rs"
            ))
            }
            Kind::Bytes => "crate::hex::serialize".to_string(),
            // Only top-level enums of our package have a simple Rust path; others stay i32.
            Kind::Enum(e) if !field.is_list() && !optional && !in_oneof => {
                match e
                    .full_name()
                    .strip_prefix(&format!("{}.", e.package_name()))
                {
                    Some(name) if !name.contains('.') => {
                        format!("crate::pb::serialize_enum::<crate::pb::{name}, _>")
                    }
                    _ => continue,
                }
            }
            _ => continue,
        };
        config.field_attribute(path, format!("#[serde(serialize_with = \"{helper}\")]"));
    }
    Ok(())
}
