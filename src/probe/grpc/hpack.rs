//! HPACK (RFC 7541), both halves at the size a probe needs. Encoding is trivial: every
//! field a literal without indexing, no Huffman. Decoding must take whatever a server's
//! encoder chose: indexes into the static and dynamic tables, Huffman-coded strings and
//! table size updates, with every length checked and the decoded size capped, so a
//! hostile header block is an error, never a panic or a memory bomb.

use std::collections::VecDeque;

/// A header field as sent: name and value bytes.
pub type Field = (Vec<u8>, Vec<u8>);

/// A header block with every field a literal without indexing, strings without Huffman.
pub fn encode<T: AsRef<str>>(fields: &[(T, T)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        // 0000 0000: literal without indexing, new name.
        block.push(0);
        for text in [name.as_ref(), value.as_ref()] {
            push_integer(&mut block, 0, 7, text.len());
            block.extend_from_slice(text.as_bytes());
        }
    }
    block
}

/// RFC 7541 5.1: `value` in a `prefix_bits`-bit prefix after the bits in `first`.
fn push_integer(out: &mut Vec<u8>, first: u8, prefix_bits: u8, mut value: usize) {
    let max = (1 << prefix_bits) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The decoding side of one connection: the dynamic table lives as long as it does.
pub struct Decoder {
    /// Newest first, as HPACK indexes it.
    table: VecDeque<Field>,
    /// RFC 7541 4.1: the sum of name + value + 32 over the entries.
    size: usize,
    /// What the encoder last set with a size update.
    max_size: usize,
    /// What we allowed with SETTINGS_HEADER_TABLE_SIZE: no update may go past it.
    limit: usize,
}

impl Decoder {
    pub fn new(limit: usize) -> Decoder {
        Decoder {
            table: VecDeque::new(),
            size: 0,
            max_size: limit,
            limit,
        }
    }

    /// Decodes one whole header block. `max_list` caps the decoded list (RFC 9113's
    /// header list size: name + value + 32 per field), since a few bytes of indexes can
    /// stand for kilobytes of table entries.
    pub fn decode(&mut self, block: &[u8], max_list: usize) -> Result<Vec<Field>, &'static str> {
        let mut input = block;
        let mut fields = Vec::new();
        let mut list_size = 0;
        while let Some(&first) = input.first() {
            let field = if first & 0x80 != 0 {
                // 1xxx xxxx: indexed field.
                let index = integer(&mut input, 7)?;
                self.get(index)?
            } else if first & 0x40 != 0 {
                // 01xx xxxx: literal with incremental indexing.
                let field = self.literal(&mut input, 6)?;
                self.insert(field.clone());
                field
            } else if first & 0x20 != 0 {
                // 001x xxxx: dynamic table size update. RFC 7541 4.2 allows it only at
                // the start of a block; later, it is an encoder bug we do not guess around.
                if !fields.is_empty() {
                    return Err("table size update after a header field");
                }
                let size = integer(&mut input, 5)?;
                if size > self.limit {
                    return Err("table size update beyond our SETTINGS_HEADER_TABLE_SIZE");
                }
                self.max_size = size;
                self.evict(0);
                continue;
            } else {
                // 0000 xxxx or 0001 xxxx: literal without indexing, or never indexed.
                self.literal(&mut input, 4)?
            };
            list_size += field.0.len() + field.1.len() + 32;
            if list_size > max_list {
                return Err("header list too large");
            }
            fields.push(field);
        }
        Ok(fields)
    }

    fn literal(&self, input: &mut &[u8], prefix_bits: u8) -> Result<Field, &'static str> {
        let name = match integer(input, prefix_bits)? {
            0 => string(input)?,
            index => self.get(index)?.0,
        };
        Ok((name, string(input)?))
    }

    fn get(&self, index: usize) -> Result<Field, &'static str> {
        match index {
            0 => Err("index 0"),
            1..=61 => {
                let (name, value) = STATIC_TABLE[index - 1];
                Ok((name.as_bytes().to_vec(), value.as_bytes().to_vec()))
            }
            _ => self
                .table
                .get(index - 62)
                .cloned()
                .ok_or("index beyond the dynamic table"),
        }
    }

    /// RFC 7541 4.4: evict the oldest entries until the new one fits; one larger than
    /// the whole table empties it and is not stored.
    fn insert(&mut self, field: Field) {
        let size = field.0.len() + field.1.len() + 32;
        self.evict(size);
        if size <= self.max_size {
            self.size += size;
            self.table.push_front(field);
        }
    }

    /// Evicts the oldest entries until `room` more bytes fit (or the table is empty).
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            let Some((name, value)) = self.table.pop_back() else {
                self.size = 0;
                return;
            };
            self.size -= name.len() + value.len() + 32;
        }
    }
}

const TRUNCATED: &str = "truncated header block";

/// RFC 7541 5.1: an integer in a `prefix_bits`-bit prefix, then 7 bits a byte.
fn integer(input: &mut &[u8], prefix_bits: u8) -> Result<usize, &'static str> {
    let (&first, rest) = input.split_first().ok_or(TRUNCATED)?;
    *input = rest;
    let max = (1 << prefix_bits) - 1;
    let mut value = usize::from(first) & max;
    if value < max {
        return Ok(value);
    }
    // Four more bytes reach 2^28: far beyond any length or index a block can hold.
    for shift in [0, 7, 14, 21] {
        let (&byte, rest) = input.split_first().ok_or(TRUNCATED)?;
        *input = rest;
        value += usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("integer too large")
}

/// RFC 7541 5.2: a length-prefixed string, Huffman-coded when the top bit says so.
fn string(input: &mut &[u8]) -> Result<Vec<u8>, &'static str> {
    let huffman = input.first().is_some_and(|&byte| byte & 0x80 != 0);
    let length = integer(input, 7)?;
    if length > input.len() {
        return Err(TRUNCATED);
    }
    let (bytes, rest) = input.split_at(length);
    *input = rest;
    if huffman {
        huffman_decode(bytes)
    } else {
        Ok(bytes.to_vec())
    }
}

/// RFC 7541 Appendix B, as the code length of each symbol (0-255, then 256 = EOS). The
/// code is canonical (codes of one length are consecutive, in symbol order, and
/// shorter codes come first), so the lengths alone define it.
const CODE_LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];
const EOS: u16 = 256;
const LONGEST_CODE: usize = 30;

/// The canonical code in the form a decoder walks: how many codes each length has, and
/// the symbols ordered by (length, symbol).
struct Canonical {
    counts: [u16; LONGEST_CODE + 1],
    symbols: [u16; 257],
}

static CANONICAL: Canonical = canonical();

const fn canonical() -> Canonical {
    let mut counts = [0; LONGEST_CODE + 1];
    let mut symbols = [0; 257];
    let mut next = 0;
    let mut length = 1;
    while length <= LONGEST_CODE {
        let mut symbol = 0;
        while symbol < 257 {
            if CODE_LENGTHS[symbol] as usize == length {
                counts[length] += 1;
                symbols[next] = symbol as u16;
                next += 1;
            }
            symbol += 1;
        }
        length += 1;
    }
    Canonical { counts, symbols }
}

/// Decodes bit by bit (a header value is a few dozen bytes): at each length, the codes
/// of that length are the `count` values from `first` on.
fn huffman_decode(bytes: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(bytes.len() * 8 / 5);
    let (mut code, mut first, mut index, mut length) = (0u32, 0u32, 0usize, 0usize);
    // Whether every bit since the last symbol was 1: padding must be (a prefix of) EOS.
    let mut all_ones = true;
    for byte in bytes {
        for shift in (0..8).rev() {
            let bit = u32::from(byte >> shift & 1);
            code |= bit;
            all_ones &= bit == 1;
            length += 1;
            let count = u32::from(CANONICAL.counts[length]);
            if code - first < count {
                let symbol = CANONICAL.symbols[index + (code - first) as usize];
                if symbol == EOS {
                    return Err("EOS in a Huffman-coded string");
                }
                out.push(symbol as u8);
                (code, first, index, length, all_ones) = (0, 0, 0, 0, true);
                continue;
            }
            if length == LONGEST_CODE {
                return Err("invalid Huffman code");
            }
            index += count as usize;
            first = (first + count) << 1;
            code <<= 1;
        }
    }
    if length > 7 || !all_ones {
        return Err("invalid Huffman padding");
    }
    Ok(out)
}

/// RFC 7541 Appendix A.
const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

#[cfg(test)]
mod tests;
