//! The one filter every byte we print goes through: what could forge a line, move the
//! cursor or make a line read as something else becomes '?'.

/// Every character replaced, as inclusive ranges in order: the control characters (Cc),
/// every format character (Cf: bidi controls, zero-width characters, U+061C, U+FEFF, the
/// tag characters), and the line and paragraph separators (U+2028, U+2029). Generated
/// from UnicodeData (Unicode 14, Python's unicodedata: categories Cc, Cf, Zl, Zp, and the
/// explicit bidi classes), widened by hand where Unicode 15 added Cf characters
/// (U+13439-U+1343F) and to the whole tag block (U+E0000-U+E007F).
const REPLACED: &[(char, char)] = &[
    ('\u{0}', '\u{1f}'),
    ('\u{7f}', '\u{9f}'),
    ('\u{ad}', '\u{ad}'),
    ('\u{600}', '\u{605}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{6dd}', '\u{6dd}'),
    ('\u{70f}', '\u{70f}'),
    ('\u{890}', '\u{891}'),
    ('\u{8e2}', '\u{8e2}'),
    ('\u{180e}', '\u{180e}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{2028}', '\u{202e}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{fff9}', '\u{fffb}'),
    ('\u{110bd}', '\u{110bd}'),
    ('\u{110cd}', '\u{110cd}'),
    ('\u{13430}', '\u{1343f}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0000}', '\u{e007f}'),
];

/// Whether `c` is replaced on output.
pub fn is_replaced(c: char) -> bool {
    let at = REPLACED.partition_point(|&(_, last)| last < c);
    REPLACED.get(at).is_some_and(|&(first, _)| first <= c)
}

/// `text` with each replaced character (see REPLACED) as '?'.
pub fn printable(text: &str) -> String {
    // The usual case, checked byte by byte, at a fraction of the cost of rebuilding the
    // text char by char: printable ASCII alone needs nothing.
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return text.to_string();
    }
    text.chars()
        .map(|c| if is_replaced(c) { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_disjoint() {
        for pair in REPLACED.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
    }

    #[test]
    fn printable_replaces_controls_format_characters_and_separators() {
        let cases = [
            ("ok é £ © 日本 🙂", "ok é £ © 日本 🙂"),
            ("a\r\nb\x1b[31m\x7f\t", "a??b?[31m??"),
            ("next\u{85}line \u{9f}", "next?line ?"),
            ("\u{61c}\u{200b}\u{200c}\u{200d}\u{200e}\u{200f}", "??????"),
            ("\u{202a}\u{202e}\u{2066}\u{2069}\u{2028}\u{2029}", "??????"),
            ("\u{feff}x\u{ad}\u{2060}\u{180e}", "?x???"),
            ("\u{e0000}\u{e0001}\u{e0041}\u{e007f}", "????"),
            ("\u{e0080}\u{2065}", "\u{e0080}\u{2065}"),
        ];
        for (raw, shown) in cases {
            assert_eq!(printable(raw), shown, "{raw:?}");
        }
    }
}
