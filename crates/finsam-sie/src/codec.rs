//! CP437 (`#FORMAT PC8`) and the CRC-32 of `#KSUMMA`.

use crate::cp437_table::CP437_HIGH;

/// Encodes text as CP437. Characters CP437 lacks are replaced deterministically: typographic
/// dashes and minus by `-`, curly quotes by `"` or `'`, the euro sign by `E`, a no-break space
/// by a space, and anything else by `?`.
pub fn encode(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| {
            if (c as u32) < 0x80 {
                return c as u8;
            }
            if let Some(i) = CP437_HIGH.iter().position(|x| *x == c) {
                return 0x80 + i as u8;
            }
            match c {
                '\u{2010}'..='\u{2015}' | '\u{2212}' => b'-',
                '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{00bb}' | '\u{00ab}' => b'"',
                '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{00b4}' => b'\'',
                '\u{20ac}' => b'E',
                '\u{00a0}' | '\u{202f}' => b' ',
                _ => b'?',
            }
        })
        .collect()
}

pub fn decode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| if *b < 0x80 { *b as char } else { CP437_HIGH[usize::from(b - 0x80)] }).collect()
}

/// CRC-32 as SIE 4B §10 prescribes (and zlib computes): polynomial EDB88320, preset to
/// FFFFFFFF, inverted at the end — crc32fast's. `crc` carries a running value (start with 0).
pub fn crc32(crc: u32, bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(crc);
    h.update(bytes);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(0, b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(crc32(0, b"12345"), b"6789"), 0xCBF4_3926, "it runs on");
    }

    #[test]
    fn swedish_letters_survive_cp437_and_the_rest_is_replaced_deterministically() {
        let text = "Samordningsförbundet Västmanland ÅÄÖåäö é";
        assert_eq!(decode(&encode(text)), text);
        assert_eq!(decode(&encode("a – b − c “d” €5")), "a - b - c \"d\" E5");
        assert_eq!(encode("漢"), b"?");
    }
}
