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
    events::{BytesRef, BytesStart, Event},
};

use super::order_event::{
    EventError, Field, MAX_DEPTH, MAX_DOCUMENT, MAX_FIELD, OrderEvent, OrderRef,
};
use crate::domain::{OrderStatus, text::excerpt};

mod well_formed;

use well_formed::{
    check_attributes, check_chars, check_declaration, check_name, is_xml_space, is_xml_space_char,
    resolve_reference,
};

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

#[cfg(test)]
mod tests;
