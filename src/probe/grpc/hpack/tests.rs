//! The decoder against RFC 7541's examples and hostile input.

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
    let cases: [(&str, &[u8]); 10] = [
        ("index 0", &[0x80]),
        ("index beyond the dynamic table", &[0xbe]),
        ("truncated header block", &[0x3f]),
        ("truncated header block", &[0x40, 0x85, 0xff]),
        ("integer too large", &[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
        (
            "table size update beyond our SETTINGS_HEADER_TABLE_SIZE",
            &[0x3f, 0xe2, 0x1f],
        ),
        // Static index 8 (:status 200), then a size update: too late (RFC 7541 4.2).
        ("table size update after a header field", &[0x88, 0x20]),
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
fn size_updates_at_the_start_of_a_block_are_taken() {
    // Two updates (shrink, then grow back), as RFC 7541 4.2 allows, then :status 200.
    let decoded = Decoder::new(4096).decode(&[0x20, 0x3f, 0xe1, 0x1f, 0x88], 1 << 16);
    assert_eq!(text(&decoded.unwrap()), pairs(&[(":status", "200")]));
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
