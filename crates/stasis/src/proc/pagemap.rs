//! /proc/<pid>/pagemap entries: 64 bits per virtual page.

/// Page is present in RAM.
pub const PRESENT: u64 = 1 << 63;
/// Page is swapped out.
pub const SWAPPED: u64 = 1 << 62;
/// Page is a file page or shared anonymous (not a private anonymous copy).
pub const FILE_OR_SHARED: u64 = 1 << 61;
/// Page is mapped by this process only.
pub const EXCLUSIVE: u64 = 1 << 56;

/// Whether a page of a private mapping holds data of its own that must be saved:
/// present or swapped, and not merely the unmodified page of the file.
pub fn private_page_has_data(entry: u64) -> bool {
    (entry & SWAPPED != 0) || (entry & PRESENT != 0 && entry & FILE_OR_SHARED == 0)
}

/// Whether a page of a shared anonymous mapping is populated in this task.
pub fn shared_page_has_data(entry: u64) -> bool {
    entry & (PRESENT | SWAPPED) != 0
}

/// The page frame number of a present page (0 when the kernel hides it).
pub fn frame(entry: u64) -> u64 {
    if entry & PRESENT != 0 {
        entry & ((1 << 55) - 1)
    } else {
        0
    }
}

/// Decodes a little-endian pagemap buffer into entries.
pub fn decode(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes.chunks_exact(8).map(|c| {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        u64::from_le_bytes(word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_pages() {
        assert!(!private_page_has_data(0));
        assert!(private_page_has_data(PRESENT | 1234));
        assert!(!private_page_has_data(PRESENT | FILE_OR_SHARED));
        assert!(private_page_has_data(SWAPPED | FILE_OR_SHARED));
        assert!(shared_page_has_data(PRESENT | FILE_OR_SHARED));
        let bytes = [1u8, 0, 0, 0, 0, 0, 0, 0x80];
        assert_eq!(decode(&bytes).collect::<Vec<_>>(), vec![PRESENT | 1]);
    }
}
