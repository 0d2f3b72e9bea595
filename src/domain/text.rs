//! Making text from outside safe to keep and show: bounded, without control characters.

/// At most `max` characters of `text`, without control characters: for values from outside
/// (platform answers, query parameters) that end up in pages, logs or the database.
pub fn shorten(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// At most `max` characters of `text`, with an ellipsis when cut: for quoting a piece of input in
/// an error message.
pub fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
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
    /// A line break, tab or other control character.
    #[error("a name cannot contain line breaks, tabs or other control characters")]
    ControlCharacter,
}

impl StoreName {
    /// Trims `text` and checks it.
    pub fn parse(text: &str) -> Result<Self, StoreNameError> {
        let name = text.trim();
        if name.is_empty() {
            return Err(StoreNameError::Empty);
        }
        if name.chars().any(char::is_control) {
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
        for bad in ["a\nb", "a\u{7}b", "a\tb", "a\u{85}b"] {
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
    fn excerpt_marks_the_cut() {
        assert_eq!(excerpt("abcdef", 3), "abc…");
        assert_eq!(excerpt("abc", 3), "abc");
        assert_eq!(excerpt("ääää", 2), "ää…");
    }
}
