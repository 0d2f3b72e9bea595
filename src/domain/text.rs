//! Making text from outside safe to keep and show: bounded, without control characters.

/// At most `max` characters of `text`, without control characters or invisible formatting
/// ([`is_invisible`]): for values from outside (platform answers, query parameters) that end up
/// in pages, logs or the database.
pub fn shorten(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !is_invisible(*c))
        .take(max)
        .collect()
}

/// At most `max` characters of `text`, with an ellipsis when cut: for quoting a piece of input in
/// an error message.
pub fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// At most `max` characters of `text` on one line, with an ellipsis when cut: line breaks, tabs
/// and other control characters (NUL among them, which PostgreSQL refuses in text) become single
/// spaces, and the ends are trimmed. For keeping a piece of an answer from outside (a receiver's
/// body) in the database and showing it in one table cell.
pub fn one_line(text: &str, max: usize) -> String {
    let mut line = String::with_capacity(text.len().min(max * 4));
    let mut space = false;
    for c in text.trim().chars() {
        if c.is_control() || c.is_whitespace() || is_invisible(c) {
            space = true;
            continue;
        }
        if space && !line.is_empty() {
            line.push(' ');
        }
        space = false;
        line.push(c);
    }
    excerpt(&line, max)
}

/// Whether `c` is invisible formatting that can make text display as something it is not:
/// Unicode's format characters (category Cf: bidirectional overrides and isolates, zero-width
/// joiners and spaces, the byte-order mark, tags) and the line and paragraph separators.
pub fn is_invisible(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};
    matches!(
        c.general_category(),
        GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// Whether `text` holds a control character or invisible formatting ([`is_invisible`]): what a
/// name shown to operators must not.
pub fn has_hidden_characters(text: &str) -> bool {
    text.chars().any(|c| c.is_control() || is_invisible(c))
}

/// Longest store name kept, in characters.
pub const MAX_STORE_NAME: usize = 100;

/// A store's name as an operator typed it, or as a platform gave it: trimmed, 1 to
/// [`MAX_STORE_NAME`] characters, no control characters. Once you hold one, it is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreName(String);

/// Why a text is not a [`StoreName`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoreNameError {
    /// Nothing but white space.
    #[error("enter a name")]
    Empty,
    /// Over the limit.
    #[error("a name is at most {MAX_STORE_NAME} characters")]
    TooLong,
    /// A line break, tab or other control character, or invisible formatting (a right-to-left
    /// override, a zero-width space, ...).
    #[error(
        "a name cannot contain line breaks, tabs, other control characters or invisible \
         formatting characters (such as right-to-left overrides or zero-width spaces)"
    )]
    ControlCharacter,
}

impl StoreName {
    /// Trims `text` and checks it.
    pub fn parse(text: &str) -> Result<Self, StoreNameError> {
        let name = text.trim();
        if name.is_empty() {
            return Err(StoreNameError::Empty);
        }
        if has_hidden_characters(name) {
            return Err(StoreNameError::ControlCharacter);
        }
        if name.chars().count() > MAX_STORE_NAME {
            return Err(StoreNameError::TooLong);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_names_are_trimmed_bounded_and_printable() {
        assert_eq!(
            StoreName::parse("  Tulip Traders ").unwrap().as_str(),
            "Tulip Traders"
        );
        assert_eq!(
            StoreName::parse(&"ä".repeat(100))
                .unwrap()
                .as_str()
                .chars()
                .count(),
            100
        );
        assert_eq!(StoreName::parse(" \t "), Err(StoreNameError::Empty));
        assert_eq!(
            StoreName::parse(&"a".repeat(101)),
            Err(StoreNameError::TooLong)
        );
        for bad in [
            "a\nb",
            "a\u{7}b",
            "a\tb",
            "a\u{85}b",
            "Shop\u{202E}gpj.exe",
            "a\u{200B}b",
            "a\u{2066}b\u{2069}",
            "a\u{FEFF}b",
            "a\u{2028}b",
            "a\u{E0041}b",
        ] {
            assert_eq!(
                StoreName::parse(bad),
                Err(StoreNameError::ControlCharacter),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn shorten_drops_control_characters() {
        assert_eq!(shorten("a\nb\u{7}c", 10), "abc");
        assert_eq!(shorten("abcdef", 3), "abc");
    }

    #[test]
    fn one_line_keeps_printable_text_on_one_line() {
        assert_eq!(one_line("  ok\u{0}\r\n\tthanks  ", 50), "ok thanks");
        assert_eq!(one_line("a\u{202E}b", 50), "a b");
        assert_eq!(one_line(&"x".repeat(10), 3), "xxx…");
        assert_eq!(one_line("\u{0}\u{0}", 3), "");
    }

    #[test]
    fn invisible_characters_are_told_apart_from_letters() {
        for c in [
            '\u{202A}', '\u{202E}', '\u{2066}', '\u{200D}', '\u{FEFF}', '\u{AD}',
        ] {
            assert!(is_invisible(c), "{c:?}");
        }
        for c in ['a', 'ä', 'ß', '漢', ' ', '-', '\u{0301}'] {
            assert!(!is_invisible(c), "{c:?}");
        }
    }

    #[test]
    fn excerpt_marks_the_cut() {
        assert_eq!(excerpt("abcdef", 3), "abc…");
        assert_eq!(excerpt("abc", 3), "abc");
        assert_eq!(excerpt("ääää", 2), "ää…");
    }
}
