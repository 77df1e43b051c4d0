//! crc32c of whole files, streamed, so multi-gigabyte page files are checked without being
//! held in memory. The crc32c crate uses the CPU's crc32 instruction where present.

use std::io::{self, Read};

const CHUNK: usize = 1 << 20;

/// Reads `reader` to the end; returns its length and crc32c.
pub(crate) fn size_and_crc32c(mut reader: impl Read) -> io::Result<(u64, u32)> {
    let mut buffer = vec![0u8; CHUNK];
    let mut size = 0u64;
    let mut crc = 0u32;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => return Ok((size, crc)),
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        let chunk = buffer.get(..read).unwrap_or_default();
        crc = crc32c::crc32c_append(crc, chunk);
        size += read as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_equals_one_shot() {
        let data: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i * 7) as u8).collect();
        let (size, crc) = size_and_crc32c(&data[..]).unwrap();
        assert_eq!(size, data.len() as u64);
        assert_eq!(crc, crc32c::crc32c(&data));
    }
}
