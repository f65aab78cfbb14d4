//! GPT-2's reversible map between bytes and printable characters, used by byte-level BPE files.
//!
//! Byte-level `tokenizer.json` files spell every token through this map (a space is `Ġ`).
//! The core works on raw bytes; this module converts the file's spelling at load time.

/// The 256 characters that stand for bytes 0..=255 in byte-level vocabularies.
pub fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next_free = 256u32;
    for byte in 0..=255u8 {
        let printable = matches!(byte, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        table[byte as usize] = if printable {
            char::from(byte)
        } else {
            let c = char::from_u32(next_free).unwrap_or('\0');
            next_free += 1;
            c
        };
    }
    table
}

/// Inverse of [`byte_to_char_table`]: a char's byte, if it is one of the 256.
pub struct CharToByte {
    table: rustc_hash::FxHashMap<char, u8>,
}

impl CharToByte {
    pub fn new() -> Self {
        let table = byte_to_char_table()
            .iter()
            .enumerate()
            .map(|(byte, &c)| (c, byte as u8))
            .collect();
        CharToByte { table }
    }

    /// The raw bytes a byte-level token string stands for, or `None` if a char is outside the map.
    pub fn decode(&self, token: &str) -> Option<Vec<u8>> {
        token.chars().map(|c| self.table.get(&c).copied()).collect()
    }
}

impl Default for CharToByte {
    fn default() -> Self {
        Self::new()
    }
}

/// Spell raw bytes the byte-level way.
pub fn encode_bytes(bytes: &[u8]) -> String {
    let table = byte_to_char_table();
    bytes.iter().map(|&b| table[b as usize]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_is_a_bijection_with_known_points() {
        let table = byte_to_char_table();
        assert_eq!(table[b' ' as usize], 'Ġ');
        assert_eq!(table[b'\n' as usize], 'Ċ');
        assert_eq!(table[b'a' as usize], 'a');
        let inverse = CharToByte::new();
        for byte in 0..=255u8 {
            assert_eq!(
                inverse.decode(&table[byte as usize].to_string()),
                Some(vec![byte])
            );
        }
        assert_eq!(encode_bytes(b"a b"), "aĠb");
    }
}
