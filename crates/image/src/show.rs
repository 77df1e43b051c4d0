//! `stasis show`: any image file, or a whole dump directory, as JSON. Frames and checksums
//! are verified as for restore; cross-references are not, so an inconsistent dump can
//! still be inspected.

use std::fs;
use std::path::Path;

use prost::Message;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::ImageError;
use crate::frame::{unframe, FrameError, ImageKind};
use crate::load::{check_is_dir, check_listed_raw, read_inventory, read_listed};
use crate::names::{is_content_image_name, is_pages_image_name};
use crate::pb;

/// A dump directory becomes {"inventory": ..., "<file name>": <decoded image>, ...} (page
/// files as {"raw_pages": true, "size": N}); a single image file becomes its decoded
/// message, its kind taken from the frame header.
pub fn show(path: &Path) -> Result<Value, ImageError> {
    let meta = fs::metadata(path).map_err(|err| ImageError::io(path, "inspect", err))?;
    if meta.is_dir() {
        show_dir(path)
    } else if path
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(is_pages_image_name)
    {
        Ok(raw_pages(meta.len()))
    } else if path
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(is_content_image_name)
    {
        Ok(raw_content(meta.len()))
    } else {
        let bytes = fs::read(path).map_err(|err| ImageError::io(path, "read", err))?;
        decode_any(&bytes).map_err(|source| ImageError::BadFrame {
            path: path.into(),
            source,
        })
    }
}

fn show_dir(dir: &Path) -> Result<Value, ImageError> {
    check_is_dir(dir)?;
    let inventory = read_inventory(dir)?;
    let mut out = Map::new();
    for entry in &inventory.images {
        let value = if is_pages_image_name(&entry.name) {
            check_listed_raw(dir, entry)?;
            raw_pages(entry.size)
        } else if is_content_image_name(&entry.name) {
            check_listed_raw(dir, entry)?;
            raw_content(entry.size)
        } else {
            let bytes = read_listed(dir, entry)?;
            decode_any(&bytes).map_err(|source| ImageError::BadFrame {
                path: dir.join(&entry.name),
                source,
            })?
        };
        out.insert(entry.name.clone(), value);
    }
    out.insert("inventory".into(), to_json(&inventory));
    Ok(Value::Object(out))
}

fn raw_pages(size: u64) -> Value {
    json!({ "raw_pages": true, "size": size })
}

/// Content of a deleted file or memfd: raw bytes, shown by size only.
fn raw_content(size: u64) -> Value {
    json!({ "raw_file_content": true, "size": size })
}

/// Decodes a framed image of whichever kind its header names.
fn decode_any(bytes: &[u8]) -> Result<Value, FrameError> {
    let (kind, payload) = unframe(bytes)?;
    let decode_error = |source| FrameError::Decode { kind, source };
    Ok(match kind {
        ImageKind::Inventory => to_json(&pb::Inventory::decode(payload).map_err(decode_error)?),
        ImageKind::Task => to_json(&pb::TaskImage::decode(payload).map_err(decode_error)?),
        ImageKind::Mm => to_json(&pb::MmImage::decode(payload).map_err(decode_error)?),
        ImageKind::FdTable => to_json(&pb::FdTableImage::decode(payload).map_err(decode_error)?),
        ImageKind::Files => to_json(&pb::FilesImage::decode(payload).map_err(decode_error)?),
    })
}

fn to_json<M: Serialize>(msg: &M) -> Value {
    // Our types hold only strings, numbers and lists, which always convert; if that ever
    // changes, show the reason rather than panic.
    serde_json::to_value(msg).unwrap_or_else(|err| Value::String(format!("cannot show: {err}")))
}
