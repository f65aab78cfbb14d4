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
///
/// The 256 chars are all below U+0144 (the bytes that are not printable take U+0100 onwards),
/// so the inverse is one array indexed by the char (a vocabulary decodes ~1.5M chars at load).
pub struct CharToByte {
    /// `byte + 1` for each char below [`CHAR_SPAN`]; `0` for chars that stand for no byte.
    table: [u16; CHAR_SPAN],
}

/// One past the largest char of [`byte_to_char_table`] (U+0143).
const CHAR_SPAN: usize = 0x144;

impl CharToByte {
    pub fn new() -> Self {
        let mut table = [0u16; CHAR_SPAN];
        for (byte, &c) in byte_to_char_table().iter().enumerate() {
            table[c as usize] = byte as u16 + 1;
        }
        CharToByte { table }
    }

    /// The byte `c` stands for, if any.
    #[inline]
    pub fn byte(&self, c: char) -> Option<u8> {
        let entry = *self.table.get(c as usize)?;
        (entry != 0).then(|| (entry - 1) as u8)
    }

    /// The raw bytes a byte-level token string stands for, or `None` if a char is outside the map.
    pub fn decode(&self, token: &str) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(token.len());
        for c in token.chars() {
            out.push(self.byte(c)?);
        }
        Some(out)
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
