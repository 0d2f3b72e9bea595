//! The strict reader of Maropost's order notification document (see [`super::order_event`]).
//!
//! The body comes from the internet, so the parser is deliberately narrow:
//! - no DTD of any kind (`<!DOCTYPE`, `<!ENTITY`): refused before parsing, so entity expansion
//!   (billion laughs) and external entities (XXE) never get a chance; quick-xml does not expand
//!   entities anyway, and any reference other than the five predefined ones and character
//!   references is refused;
//! - UTF-8 only, at most [`MAX_DOCUMENT`] bytes, elements nested at most [`MAX_DEPTH`] deep, each
//!   field at most [`MAX_FIELD`] bytes;
//! - no processing instructions, no text outside the fields, one root element named `Event`;
//! - names and characters checked against (a strict subset of) XML 1.0, so nothing accepted here
//!   is ill-formed XML.
//!
//! Unknown elements inside `<Event>` or `<Order>` are skipped (after the same checks), so a field
//! Maropost adds later does not turn its notifications into errors. The parser runs in time
//! linear in the input and allocates at most a few small strings.

use quick_xml::{
    Reader,
    events::{BytesRef, BytesStart, Event, attributes::Attributes},
};

use super::order_event::{
    EventError, Field, MAX_DEPTH, MAX_DOCUMENT, MAX_FIELD, OrderEvent, OrderRef,
};
use crate::domain::{OrderStatus, text::excerpt};

/// Parses and validates a notification body.
pub fn parse(body: &[u8]) -> Result<OrderEvent, EventError> {
    if body.len() > MAX_DOCUMENT {
        return Err(EventError::TooLarge);
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    // Refuse any DTD before parsing: quick-xml does not expand entities, but nothing good can come
    // of a document that declares them, and refusing here costs one scan.
    if contains_ignore_ascii_case(body, b"<!DOCTYPE")
        || contains_ignore_ascii_case(body, b"<!ENTITY")
    {
        return Err(EventError::Dtd);
    }
    let text = std::str::from_utf8(body).map_err(|_| EventError::NotUtf8)?;
    Parser::new(text).run()
}

fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Where the parser stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Before the root element.
    Prolog,
    /// Directly inside `<Event>`.
    Event,
    /// Directly inside `<Order>`.
    Order,
    /// Inside a field, collecting its text.
    Field(Field),
    /// Inside an element we skip; the depth at which it started.
    Skipped(usize),
    /// After the root element.
    Epilog,
}

#[derive(Default)]
struct Collected {
    event_id: Option<String>,
    event_type: Option<String>,
    current_time: Option<String>,
    order_seen: bool,
    order_id: Option<String>,
    order_status: Option<String>,
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    place: Place,
    /// Open elements.
    depth: usize,
    /// Where to return when the current field or skipped element closes.
    stack: Vec<Place>,
    /// Namespace prefixes declared by each open element.
    scopes: Vec<Vec<String>>,
    /// Text of the field being read.
    field_text: String,
    first_event: bool,
    fields: Collected,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.expand_empty_elements = true;
        config.allow_dangling_amp = false;
        config.trim_text(false);
        Self {
            reader,
            place: Place::Prolog,
            depth: 0,
            stack: Vec::new(),
            scopes: Vec::new(),
            field_text: String::new(),
            first_event: true,
            fields: Collected::default(),
        }
    }

    fn run(mut self) -> Result<OrderEvent, EventError> {
        loop {
            let event = self
                .reader
                .read_event()
                .map_err(|e| EventError::Xml(excerpt(&e.to_string(), 160)))?;
            let first = std::mem::replace(&mut self.first_event, false);
            match event {
                Event::Decl(decl) => {
                    // Only as the very first thing in the document.
                    if !first {
                        return Err(EventError::Xml(
                            "the XML declaration must come first".into(),
                        ));
                    }
                    check_declaration(&decl)?;
                }
                Event::PI(_) => return Err(EventError::ProcessingInstruction),
                Event::DocType(_) => return Err(EventError::Dtd),
                Event::Comment(comment) => {
                    check_chars(&comment)?;
                    if comment.ends_with('-') {
                        return Err(EventError::Xml("a comment must not end with '-'".into()));
                    }
                }
                Event::Start(start) => self.start(&start)?,
                Event::End(_) => self.end(),
                Event::Empty(_) => {
                    // `expand_empty_elements` turns these into Start + End.
                    return Err(EventError::Xml("unexpected empty element".into()));
                }
                Event::Text(text) => {
                    if text.contains("]]>") {
                        return Err(EventError::Xml("']]>' outside a CDATA section".into()));
                    }
                    self.text(&text)?;
                }
                Event::CData(data) => {
                    if matches!(self.place, Place::Prolog | Place::Epilog) {
                        return Err(EventError::StrayText);
                    }
                    self.text(&data)?;
                }
                Event::GeneralRef(reference) => self.reference(&reference)?,
                Event::Eof => return self.finish(),
            }
        }
    }

    fn start(&mut self, start: &BytesStart<'_>) -> Result<(), EventError> {
        let qname = start.name();
        let name: &str = qname.as_ref();
        check_name(name)?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(EventError::TooDeep);
        }
        let declared = check_attributes(start)?;
        self.scopes.push(declared);
        if let Some((prefix, _)) = name.split_once(':') {
            self.check_prefix(prefix, false)?;
        }
        let attributes = start.attributes();
        for attribute in attributes {
            let attribute = attribute.map_err(|e| EventError::Xml(excerpt(&e.to_string(), 160)))?;
            let key: &str = attribute.key.as_ref();
            if let Some((prefix, _)) = key.split_once(':') {
                self.check_prefix(prefix, true)?;
            }
        }
        let next = match (self.place, name) {
            (Place::Prolog, "Event") => Place::Event,
            (Place::Prolog, _) => return Err(EventError::NotAnEvent),
            (Place::Epilog, _) => {
                return Err(EventError::Xml("more than one root element".into()));
            }
            (Place::Event, "EventID") => self.field(Field::EventId)?,
            (Place::Event, "EventType") => self.field(Field::EventType)?,
            (Place::Event, "CurrentTime") => self.field(Field::CurrentTime)?,
            (Place::Event, "Order") => {
                if std::mem::replace(&mut self.fields.order_seen, true) {
                    return Err(EventError::Duplicate(Field::Order));
                }
                Place::Order
            }
            (Place::Order, "OrderID") => self.field(Field::OrderId)?,
            (Place::Order, "OrderStatus") => self.field(Field::OrderStatus)?,
            (Place::Field(field), _) => return Err(EventError::NotText(field)),
            (Place::Event | Place::Order, _) => Place::Skipped(self.depth),
            (Place::Skipped(level), _) => Place::Skipped(level),
        };
        self.stack.push(self.place);
        self.place = next;
        Ok(())
    }

    /// A prefix must be declared by an open element (`xml` is always bound, for attributes).
    fn check_prefix(&self, prefix: &str, attribute: bool) -> Result<(), EventError> {
        let bound = (attribute && matches!(prefix, "xml" | "xmlns"))
            || self.scopes.iter().flatten().any(|p| p == prefix);
        if bound {
            Ok(())
        } else {
            Err(EventError::Xml(format!(
                "namespace prefix {:?} is not declared",
                excerpt(prefix, 20)
            )))
        }
    }

    /// Opens a field, refusing a second one of the same name.
    fn field(&mut self, field: Field) -> Result<Place, EventError> {
        if self.slot(field).is_some() {
            return Err(EventError::Duplicate(field));
        }
        self.field_text.clear();
        Ok(Place::Field(field))
    }

    fn slot(&mut self, field: Field) -> &mut Option<String> {
        match field {
            Field::EventId => &mut self.fields.event_id,
            Field::EventType => &mut self.fields.event_type,
            Field::CurrentTime => &mut self.fields.current_time,
            Field::OrderId => &mut self.fields.order_id,
            // `Order` is not a text field; `start` handles it before we get here.
            Field::Order | Field::OrderStatus => &mut self.fields.order_status,
        }
    }

    fn end(&mut self) {
        // quick-xml has checked that the end tag matches the open one.
        if let Place::Field(field) = self.place {
            let text = std::mem::take(&mut self.field_text);
            *self.slot(field) = Some(text);
        }
        self.depth = self.depth.saturating_sub(1);
        self.scopes.pop();
        self.place = match self.stack.pop() {
            Some(Place::Prolog) | None => Place::Epilog,
            Some(place) => place,
        };
    }

    fn text(&mut self, text: &str) -> Result<(), EventError> {
        check_chars(text)?;
        match self.place {
            Place::Field(field) => self.push_field_text(field, text),
            Place::Skipped(_) => Ok(()),
            _ if text.bytes().all(is_xml_space) => Ok(()),
            Place::Prolog | Place::Epilog => {
                Err(EventError::Xml("text outside the root element".into()))
            }
            _ => Err(EventError::StrayText),
        }
    }

    fn push_field_text(&mut self, field: Field, text: &str) -> Result<(), EventError> {
        if self.field_text.len() + text.len() > MAX_FIELD {
            return Err(EventError::TooLong(field));
        }
        self.field_text.push_str(text);
        Ok(())
    }

    fn reference(&mut self, reference: &BytesRef<'_>) -> Result<(), EventError> {
        let resolved = resolve_reference(reference)?;
        let mut buffer = [0u8; 4];
        self.text(resolved.encode_utf8(&mut buffer))
    }

    fn finish(self) -> Result<OrderEvent, EventError> {
        match self.place {
            Place::Epilog => {}
            Place::Prolog => return Err(EventError::NotAnEvent),
            _ => {
                return Err(EventError::Xml(
                    "the document ends inside an element".into(),
                ));
            }
        }
        let fields = self.fields;
        let event_id = required(Field::EventId, fields.event_id)?;
        validate_event_id(&event_id)?;
        let event_type = required(Field::EventType, fields.event_type)?;
        validate_token(Field::EventType, &event_type)?;
        let current_time = fields
            .current_time
            .map(|t| t.trim_matches(is_xml_space_char).to_owned())
            .filter(|t| !t.is_empty());
        if let Some(time) = &current_time {
            validate_time(time)?;
        }
        let order = if fields.order_seen {
            let order_id = required(Field::OrderId, fields.order_id)?;
            validate_token(Field::OrderId, &order_id)?;
            let status_text = required(Field::OrderStatus, fields.order_status)?;
            let status = OrderStatus::parse(&status_text)
                .ok_or_else(|| EventError::UnknownStatus(excerpt(&status_text, 40)))?;
            Some(OrderRef { order_id, status })
        } else if event_type == "Order" {
            return Err(EventError::Missing(Field::Order));
        } else {
            None
        };
        Ok(OrderEvent {
            event_id,
            event_type,
            current_time,
            order,
        })
    }
}

/// A field's text without surrounding XML whitespace; empty counts as missing.
fn required(field: Field, value: Option<String>) -> Result<String, EventError> {
    value
        .map(|v| v.trim_matches(is_xml_space_char).to_owned())
        .filter(|v| !v.is_empty())
        .ok_or(EventError::Missing(field))
}

fn invalid(field: Field, value: &str, expected: &'static str) -> EventError {
    EventError::Invalid {
        field,
        value: excerpt(value, 40),
        expected,
    }
}

/// EventID: documented as a number, but only its identity matters (duplicates are found by it),
/// so any id token is kept; refusing an unexpected form would make Maropost retry it forever.
fn validate_event_id(value: &str) -> Result<(), EventError> {
    validate_token(Field::EventId, value)
}

/// EventType and OrderID: printable ASCII without spaces.
fn validate_token(field: Field, value: &str) -> Result<(), EventError> {
    if value.len() > 64 || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            field,
            value,
            "expected at most 64 printable ASCII characters without spaces",
        ));
    }
    Ok(())
}

/// CurrentTime: kept as written (store time, documented as `YYYY-MM-DD HH:MM:SS`). It is
/// informative only, so any short text without control characters is accepted rather than
/// refusing, and losing, an event over its clock's format.
fn validate_time(value: &str) -> Result<(), EventError> {
    if value.chars().count() > 64 || value.chars().any(char::is_control) {
        return Err(invalid(
            Field::CurrentTime,
            value,
            "expected a date and time such as 2024-01-03 01:11:12",
        ));
    }
    Ok(())
}

/// Only the version and encoding XML 1.0 documents written in UTF-8 may declare: `version`, then
/// optionally `encoding`, then optionally `standalone`.
fn check_declaration(decl: &quick_xml::events::BytesDecl<'_>) -> Result<(), EventError> {
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
fn check_attributes(start: &BytesStart<'_>) -> Result<Vec<String>, EventError> {
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
fn check_attribute_spacing(raw: &str) -> Result<(), EventError> {
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
fn check_references(raw: &str) -> Result<(), EventError> {
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
fn resolve_reference(reference: &BytesRef<'_>) -> Result<char, EventError> {
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
fn check_name(name: &str) -> Result<(), EventError> {
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
fn check_chars(text: &str) -> Result<(), EventError> {
    if text.chars().all(is_xml_char) {
        Ok(())
    } else {
        Err(EventError::Xml(
            "the document contains a character XML does not allow".into(),
        ))
    }
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_xml_space_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "<Event><CurrentTime>2024-01-03 01:11:12</CurrentTime><EventID>34</EventID>\
        <EventType>Order</EventType><Order><OrderID>N10154</OrderID><OrderStatus>Pick</OrderStatus>\
        </Order></Event>";

    fn event(doc: &str) -> Result<OrderEvent, EventError> {
        parse(doc.as_bytes())
    }

    fn with_order(order: &str) -> String {
        format!("<Event><EventID>1</EventID><EventType>Order</EventType>{order}</Event>")
    }

    #[test]
    fn the_documented_example_parses() {
        let parsed = event(EXAMPLE).unwrap();
        assert_eq!(
            parsed,
            OrderEvent {
                event_id: "34".into(),
                event_type: "Order".into(),
                current_time: Some("2024-01-03 01:11:12".into()),
                order: Some(OrderRef {
                    order_id: "N10154".into(),
                    status: OrderStatus::Pick,
                }),
            }
        );
    }

    #[test]
    fn declaration_bom_whitespace_comments_and_unknown_fields_are_fine() {
        let doc = "\u{FEFF}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- from Maropost -->\n\
             <Event xmlns:x=\"urn:x\">\n  <EventID> 35 </EventID>\n  <EventType>Order</EventType>\n  \
             <Extra a=\"1 &amp; 2\"><Deeper>text</Deeper></Extra>\n  <Order>\n    <OrderID>N&#49;</OrderID>\n    \
             <OrderStatus>On Hold</OrderStatus><Note/>\n  </Order>\n</Event>\n<!-- end -->\n";
        let parsed = event(doc).unwrap();
        assert_eq!(parsed.event_id, "35");
        assert_eq!(parsed.current_time, None);
        let order = parsed.order.unwrap();
        assert_eq!(order.order_id, "N1");
        assert_eq!(order.status, OrderStatus::OnHold);
    }

    #[test]
    fn every_documented_status_is_accepted() {
        for status in OrderStatus::ALL {
            let doc = with_order(&format!(
                "<Order><OrderID>N1</OrderID><OrderStatus>{status}</OrderStatus></Order>"
            ));
            assert_eq!(event(&doc).unwrap().order.unwrap().status, *status);
        }
    }

    #[test]
    fn undocumented_statuses_are_refused() {
        for status in ["Picked", "pick", "", "On  Hold", "Shipped"] {
            let doc = with_order(&format!(
                "<Order><OrderID>N1</OrderID><OrderStatus>{status}</OrderStatus></Order>"
            ));
            let err = event(&doc).unwrap_err();
            assert!(
                matches!(
                    err,
                    EventError::UnknownStatus(_) | EventError::Missing(Field::OrderStatus)
                ),
                "{status}: {err}"
            );
        }
    }

    #[test]
    fn missing_fields_are_named() {
        let cases = [
            (
                "<Event><EventType>Order</EventType></Event>",
                Field::EventId,
            ),
            (
                "<Event><EventID>1</EventID><Order><OrderID>N1</OrderID><OrderStatus>New</OrderStatus></Order></Event>",
                Field::EventType,
            ),
            (
                &with_order("<Order><OrderStatus>New</OrderStatus></Order>"),
                Field::OrderId,
            ),
            (
                &with_order("<Order><OrderID> </OrderID><OrderStatus>New</OrderStatus></Order>"),
                Field::OrderId,
            ),
            (
                &with_order("<Order><OrderID>N1</OrderID></Order>"),
                Field::OrderStatus,
            ),
            (&with_order(""), Field::Order),
            (
                "<Event><EventID/><EventType>Order</EventType></Event>",
                Field::EventId,
            ),
        ];
        for (doc, field) in cases {
            let err = event(doc).unwrap_err();
            assert_eq!(err, EventError::Missing(field), "{doc}");
            assert!(err.to_string().contains(field.name()));
        }
    }

    #[test]
    fn other_event_types_need_no_order() {
        let parsed =
            event("<Event><EventID>9</EventID><EventType>Ping</EventType></Event>").unwrap();
        assert_eq!(parsed.order, None);
    }

    #[test]
    fn dtds_and_entities_are_refused() {
        let laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">\
            <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\
            <Event><EventID>&lol2;</EventID></Event>";
        assert_eq!(event(laughs).unwrap_err(), EventError::Dtd);
        let xxe = "<!DOCTYPE e [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><Event><EventID>&xxe;</EventID></Event>";
        assert_eq!(event(xxe).unwrap_err(), EventError::Dtd);
        assert_eq!(
            event("<!doctype Event><Event/>").unwrap_err(),
            EventError::Dtd
        );
        assert_eq!(
            event(&with_order("<Order><OrderID>&xxe;</OrderID></Order>")).unwrap_err(),
            EventError::UndeclaredEntity("xxe".into())
        );
        assert!(matches!(
            event("<Event a=\"&x;\"><EventID>1</EventID></Event>").unwrap_err(),
            EventError::UndeclaredEntity(_)
        ));
    }

    #[test]
    fn depth_is_bounded() {
        let deep = |n: usize| {
            let open: String = (0..n).map(|_| "<a>").collect();
            let close: String = (0..n).map(|_| "</a>").collect();
            format!("<Event><EventID>1</EventID><EventType>X</EventType>{open}{close}</Event>")
        };
        assert!(event(&deep(MAX_DEPTH - 1)).is_ok());
        assert_eq!(event(&deep(MAX_DEPTH)).unwrap_err(), EventError::TooDeep);
        assert_eq!(event(&deep(30_000)).unwrap_err(), EventError::TooDeep);
    }

    #[test]
    fn ill_formed_documents_are_refused() {
        for doc in [
            "",
            "   ",
            "<Event>",
            "<Event><EventID>1</EventID>",
            "<Event></Evnt>",
            "<Event><EventID>1</EventType></Event>",
            "<Event><EventID>1</EventID><EventType>Order</EventType></Event><Event/>",
            "<Event/>trailing",
            "text<Event/>",
            "<Event><EventID>1 & 2</EventID></Event>",
            "<Event><EventID>1</EventID><EventType>Ping</EventType><!-- a -- b --></Event>",
            "<Event a=\"1\" a=\"2\"><EventID>1</EventID><EventType>Ping</EventType></Event>",
            "<Event a=1><EventID>1</EventID><EventType>Ping</EventType></Event>",
            "<Event a=\"<\"><EventID>1</EventID><EventType>Ping</EventType></Event>",
            "<Event><EventID>1</EventID><EventType>Ping</EventType><1bad/></Event>",
            "<Event><EventID>\u{1}</EventID><EventType>Ping</EventType></Event>",
            "<Event><EventID>&#0;</EventID><EventType>Ping</EventType></Event>",
            "<Other><EventID>1</EventID><EventType>Ping</EventType></Other>",
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Event/>",
            "<?xml-stylesheet href=\"x\"?><Event><EventID>1</EventID><EventType>Ping</EventType></Event>",
            " <?xml version=\"1.0\"?><Event><EventID>1</EventID><EventType>Ping</EventType></Event>",
            "<Event><EventID>1</EventID>stray<EventType>Ping</EventType></Event>",
        ] {
            assert!(event(doc).is_err(), "accepted: {doc:?}");
        }
        assert_eq!(
            parse(b"<Event>\xff</Event>").unwrap_err(),
            EventError::NotUtf8
        );
    }

    #[test]
    fn fields_are_typed_and_bounded() {
        let base = |id: &str, time: &str| {
            format!(
                "<Event><CurrentTime>{time}</CurrentTime><EventID>{id}</EventID><EventType>Ping</EventType></Event>"
            )
        };
        assert!(event(&base("12", "2024-01-03 01:11:12")).is_ok());
        assert!(event(&base("12", "2024-01-03T01:11:12.5+10:00")).is_ok());
        // Unexpected but harmless forms are kept rather than refused (and retried forever).
        assert!(event(&base("evt-12", "03/01/2024 1:11 AM")).is_ok());
        let long_id = "1".repeat(65);
        let long_time = "9".repeat(65);
        for (id, time) in [
            ("a b", "2024-01-03 01:11:12"),
            (long_id.as_str(), "2024-01-03 01:11:12"),
            ("1", long_time.as_str()),
            ("1", "2024-01-03\t01:11:12"),
        ] {
            assert!(
                matches!(event(&base(id, time)), Err(EventError::Invalid { .. })),
                "{id} {time}"
            );
        }
        let long = "N".repeat(MAX_FIELD + 1);
        let doc = with_order(&format!(
            "<Order><OrderID>{long}</OrderID><OrderStatus>New</OrderStatus></Order>"
        ));
        assert_eq!(
            event(&doc).unwrap_err(),
            EventError::TooLong(Field::OrderId)
        );
        let doc = with_order("<Order><OrderID>N 1</OrderID><OrderStatus>New</OrderStatus></Order>");
        assert!(matches!(event(&doc), Err(EventError::Invalid { .. })));
    }

    #[test]
    fn duplicates_and_markup_in_fields_are_refused() {
        assert_eq!(
            event("<Event><EventID>1</EventID><EventID>2</EventID></Event>").unwrap_err(),
            EventError::Duplicate(Field::EventId)
        );
        assert_eq!(
            event(&with_order(
                "<Order><OrderID>1</OrderID><OrderStatus>New</OrderStatus></Order><Order/>"
            ))
            .unwrap_err(),
            EventError::Duplicate(Field::Order)
        );
        assert_eq!(
            event("<Event><EventID>1<b/></EventID></Event>").unwrap_err(),
            EventError::NotText(Field::EventId)
        );
    }

    #[test]
    fn oversized_documents_are_refused_before_parsing() {
        let doc = vec![b' '; MAX_DOCUMENT + 1];
        assert_eq!(parse(&doc).unwrap_err(), EventError::TooLarge);
    }
}
