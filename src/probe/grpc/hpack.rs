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
                // 001x xxxx: dynamic table size update.
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
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    fn text(fields: &[Field]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(name, value)| {
                let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).unwrap();
                (text(name), text(value))
            })
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn decodes_rfc7541_c4_requests_with_huffman() {
        let mut decoder = Decoder::new(4096);
        let first = decoder
            .decode(&hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"), 1 << 16)
            .unwrap();
        assert_eq!(
            text(&first),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
            ])
        );
        let second = decoder
            .decode(&hex("8286 84be 5886 a8eb 1064 9cbf"), 1 << 16)
            .unwrap();
        assert_eq!(text(&second)[4], pairs(&[("cache-control", "no-cache")])[0]);
        let third = decoder
            .decode(
                &hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"),
                1 << 16,
            )
            .unwrap();
        assert_eq!(
            text(&third),
            pairs(&[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value"),
            ])
        );
        assert_eq!(decoder.size, 164);
    }

    #[test]
    fn decodes_rfc7541_c6_responses_with_eviction() {
        let mut decoder = Decoder::new(256);
        let first = decoder
            .decode(
                &hex(
                    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0
                     82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                ),
                1 << 16,
            )
            .unwrap();
        assert_eq!(
            text(&first),
            pairs(&[
                (":status", "302"),
                ("cache-control", "private"),
                ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                ("location", "https://www.example.com"),
            ])
        );
        assert_eq!(decoder.size, 222);
        let second = decoder
            .decode(&hex("4883 640e ffc1 c0bf"), 1 << 16)
            .unwrap();
        assert_eq!(text(&second)[0], pairs(&[(":status", "307")])[0]);
        assert_eq!(decoder.size, 222);
        let third = decoder
            .decode(
                &hex(
                    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b
                     d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27
                     0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                ),
                1 << 16,
            )
            .unwrap();
        assert_eq!(
            text(&third),
            pairs(&[
                (":status", "200"),
                ("cache-control", "private"),
                ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
                ("location", "https://www.example.com"),
                ("content-encoding", "gzip"),
                (
                    "set-cookie",
                    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
                ),
            ])
        );
        assert_eq!(decoder.size, 215);
        assert_eq!(decoder.table.len(), 3);
    }

    #[test]
    fn canonical_code_matches_rfc7541_appendix_b() {
        // Spot checks against the table's first, last and shortest codes.
        let code_of = |wanted: u16| {
            let (mut code, mut previous_length) = (0u32, 0);
            for (position, &symbol) in CANONICAL.symbols.iter().enumerate() {
                let length = CODE_LENGTHS[usize::from(symbol)];
                if position > 0 {
                    code = (code + 1) << (length - previous_length);
                }
                previous_length = length;
                if symbol == wanted {
                    return (code, length);
                }
            }
            unreachable!()
        };
        assert_eq!(code_of(0), (0x1ff8, 13));
        assert_eq!(code_of(u16::from(b'0')), (0x0, 5));
        assert_eq!(code_of(u16::from(b'a')), (0x3, 5));
        assert_eq!(code_of(u16::from(b'{')), (0x7ffe, 15));
        assert_eq!(code_of(255), (0x3ffffee, 26));
        assert_eq!(code_of(EOS), (0x3fffffff, 30));
    }

    #[test]
    fn encodes_literals_that_decode_back() {
        let fields = [
            (":path", "/grpc.health.v1.Health/Check"),
            ("x", &*"y".repeat(300)),
        ];
        let block = encode(&fields);
        let decoded = Decoder::new(4096).decode(&block, 1 << 16).unwrap();
        assert_eq!(text(&decoded), pairs(&fields));
    }

    #[test]
    fn rejects_hostile_blocks_without_panicking() {
        let cases: [(&str, &[u8]); 9] = [
            ("index 0", &[0x80]),
            ("index beyond the dynamic table", &[0xbe]),
            ("truncated header block", &[0x3f]),
            ("truncated header block", &[0x40, 0x85, 0xff]),
            ("integer too large", &[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            (
                "table size update beyond our SETTINGS_HEADER_TABLE_SIZE",
                &[0x3f, 0xe2, 0x1f],
            ),
            ("invalid Huffman padding", &[0x00, 0x81, 0x00, 0x00]),
            (
                "EOS in a Huffman-coded string",
                &[0x00, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00],
            ),
            ("truncated header block", &[0x00, 0x01]),
        ];
        for (expected, block) in cases {
            let result = Decoder::new(4096).decode(block, 1 << 16);
            assert_eq!(result, Err(expected), "{block:02x?}");
        }
    }

    #[test]
    fn caps_the_decoded_list() {
        let mut decoder = Decoder::new(4096);
        // One 4000-byte entry in the table, then referenced again and again.
        let mut block = encode(&[("a", &"b".repeat(4000))]);
        block[0] = 0x40;
        block.extend([0xbe; 10]);
        assert_eq!(
            decoder.decode(&block, 16 * 1024),
            Err("header list too large")
        );
    }
}
