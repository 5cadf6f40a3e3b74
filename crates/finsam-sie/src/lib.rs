//! SIE 4 for finsam: the books of one förbund and year as a 4E (`.se`) or 4I (`.si`) file, in
//! CP437 with CRLF and a #KSUMMA CRC-32 (SIE 4B, 2008), and a reader for SIE files. Pure:
//! bytes in, bytes out.

mod codec;
mod cp437_table;
pub mod export;
pub mod format;

pub use codec::{crc32, decode, encode};
pub use export::{Export, SieType};
pub use format::{parse, SieFile};
