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

#[cfg(test)]
mod tests {
    use super::*;

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
