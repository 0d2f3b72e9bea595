//! The XML 1.0 rules the reader checks itself, beyond what quick-xml checks: the declaration,
//! attributes and their spacing, references, names and characters (a strict subset of XML 1.0,
//! so nothing accepted is ill-formed XML).

use quick_xml::events::{BytesRef, BytesStart, attributes::Attributes};

use super::super::order_event::EventError;
use crate::domain::text::excerpt;

/// Only the version and encoding XML 1.0 documents written in UTF-8 may declare: `version`, then
/// optionally `encoding`, then optionally `standalone`.
pub(super) fn check_declaration(decl: &quick_xml::events::BytesDecl<'_>) -> Result<(), EventError> {
    let bad =
        |e: &dyn std::fmt::Display| EventError::Xml(excerpt(&format!("XML declaration: {e}"), 160));
    let content: &str = decl;
    // `<?xml` then a space, as every real declaration has (stricter than XML, which allows any
    // whitespace there; so is roxmltree, the oracle of the property tests).
    if !content.starts_with("xml ") {
        return Err(bad(&"expected a space after <?xml"));
    }
    check_attribute_spacing(content.get(3..).unwrap_or_default())?;
    let mut attributes = Attributes::new(content, 3);
    attributes.with_checks(true);
    // Rank of the next attribute allowed: 0 version, 1 encoding, 2 standalone.
    let mut next = 0;
    for attribute in attributes {
        let attribute = attribute.map_err(|e| bad(&e))?;
        let value: &str = &attribute.value;
        let rank = match attribute.key.as_ref() {
            "version" => 0,
            "encoding" => 1,
            "standalone" => 2,
            _ => return Err(bad(&"unexpected attribute")),
        };
        if rank < next || (next == 0 && rank != 0) {
            return Err(bad(
                &"version, encoding and standalone must come in this order",
            ));
        }
        next = rank + 1;
        match rank {
            0 if value != "1.0" => return Err(bad(&"only version 1.0 is accepted")),
            1 if !value.eq_ignore_ascii_case("utf-8") => {
                return Err(EventError::Encoding(excerpt(value, 40)));
            }
            2 if !matches!(value, "yes" | "no") => {
                return Err(bad(&"standalone must be yes or no"));
            }
            _ => {}
        }
    }
    if next == 0 {
        return Err(bad(&"version is missing"));
    }
    Ok(())
}

/// Attributes are ignored, but must be well-formed: checked names, quoted values separated by
/// whitespace, no duplicates, no `<`, only known references, namespace declarations that
/// XML Namespaces allows. Returns the prefixes the element declares.
pub(super) fn check_attributes(start: &BytesStart<'_>) -> Result<Vec<String>, EventError> {
    check_attribute_spacing(start.attributes_raw())?;
    let mut declared = Vec::new();
    let mut prefixed_locals: Vec<&str> = Vec::new();
    for attribute in start.attributes().with_checks(true) {
        let attribute =
            attribute.map_err(|e| EventError::Xml(excerpt(&format!("attribute: {e}"), 160)))?;
        let key: &str = attribute.key.0;
        check_name(key)?;
        let raw: &str = &attribute.value;
        if raw.contains('<') {
            return Err(EventError::Xml("'<' in an attribute value".into()));
        }
        check_chars(raw)?;
        check_references(raw)?;
        if let Some((prefix, local)) = key.split_once(':') {
            // Two prefixed attributes with one local name could be the same attribute under two
            // prefixes of one namespace; refuse rather than resolve.
            if prefixed_locals.contains(&local) {
                return Err(EventError::Xml(
                    "attributes with the same local name".into(),
                ));
            }
            prefixed_locals.push(local);
            if prefix == "xmlns" {
                let reserved = matches!(local, "xml" | "xmlns")
                    || raw.is_empty()
                    || raw == "http://www.w3.org/XML/1998/namespace"
                    || raw == "http://www.w3.org/2000/xmlns/";
                if reserved {
                    return Err(EventError::Xml("invalid namespace declaration".into()));
                }
                declared.push(local.to_owned());
            }
        } else if key == "xmlns"
            && (raw == "http://www.w3.org/XML/1998/namespace"
                || raw == "http://www.w3.org/2000/xmlns/")
        {
            return Err(EventError::Xml("invalid namespace declaration".into()));
        }
    }
    Ok(declared)
}

/// XML wants whitespace between attributes (`a="1"b="2"` is ill-formed); quick-xml does not check.
pub(super) fn check_attribute_spacing(raw: &str) -> Result<(), EventError> {
    let mut quote = None;
    let mut after_value = false;
    for c in raw.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                after_value = true;
            }
            Some(_) => {}
            None => {
                if after_value && !is_xml_space_char(c) && c != '/' {
                    return Err(EventError::Xml(
                        "attributes must be separated by whitespace".into(),
                    ));
                }
                after_value = false;
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
            }
        }
    }
    Ok(())
}

/// Every `&...;` in an attribute value must be a predefined entity or a character reference.
pub(super) fn check_references(raw: &str) -> Result<(), EventError> {
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        let after = &rest[at + 1..];
        let end = after
            .find(';')
            .ok_or_else(|| EventError::Xml("'&' without a reference in an attribute".into()))?;
        resolve_reference(&BytesRef::new(&after[..end]))?;
        rest = &after[end + 1..];
    }
    Ok(())
}

/// The predefined entities and character references; nothing else.
pub(super) fn resolve_reference(reference: &BytesRef<'_>) -> Result<char, EventError> {
    let name: &str = reference;
    if reference.is_char_ref() {
        let resolved = reference
            .resolve_char_ref()
            .ok()
            .flatten()
            .filter(|c| is_xml_char(*c));
        return resolved.ok_or_else(|| {
            EventError::Xml(format!(
                "invalid character reference &{};",
                excerpt(name, 16)
            ))
        });
    }
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        _ => Err(EventError::UndeclaredEntity(excerpt(name, 32))),
    }
}

/// Element and attribute names: ASCII letters, digits, `_`, `-`, `.`, and one `:` between a
/// prefix and a local name. Stricter than XML (no other characters), which no real notification
/// needs.
pub(super) fn check_name(name: &str) -> Result<(), EventError> {
    let part_ok = |part: &str| {
        let mut bytes = part.bytes();
        bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    let ok = match name.split_once(':') {
        Some((prefix, local)) => part_ok(prefix) && part_ok(local),
        None => part_ok(name),
    };
    if ok && name.len() <= 64 {
        Ok(())
    } else {
        Err(EventError::Xml(format!(
            "invalid element or attribute name {:?}",
            excerpt(name, 40)
        )))
    }
}

/// Characters XML 1.0 allows in a document.
pub(super) fn check_chars(text: &str) -> Result<(), EventError> {
    if text.chars().all(is_xml_char) {
        Ok(())
    } else {
        Err(EventError::Xml(
            "the document contains a character XML does not allow".into(),
        ))
    }
}

pub(super) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

pub(super) fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

pub(super) fn is_xml_space_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}
