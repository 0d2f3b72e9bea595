//! A Maropost order notification, valid by construction: what [`super::order_xml::parse`] makes
//! of a body, and why it refuses one.
//!
//! ```xml
//! <?xml version="1.0" encoding="utf-8"?>
//! <Event>
//!   <CurrentTime>2024-01-03 01:11:12</CurrentTime>
//!   <EventID>34</EventID>
//!   <EventType>Order</EventType>
//!   <Order><OrderID>N10154</OrderID><OrderStatus>Pick</OrderStatus></Order>
//! </Event>
//! ```

use std::fmt;

use crate::domain::OrderStatus;

/// Largest document accepted (the route refuses larger bodies before this is reached).
pub const MAX_DOCUMENT: usize = 256 * 1024;
/// Deepest nesting of elements accepted, the root counting as 1.
pub const MAX_DEPTH: usize = 16;
/// Longest text accepted in one field (EventType, OrderID, ...).
pub const MAX_FIELD: usize = 128;

/// A validated order notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    /// `<EventID>`: Maropost's id of this notification; a retry repeats it.
    pub event_id: String,
    /// `<EventType>`, e.g. `Order`.
    pub event_type: String,
    /// `<CurrentTime>` as written (store time, `YYYY-MM-DD HH:MM:SS`), when present.
    pub current_time: Option<String>,
    /// `<Order>`; required when the event type is `Order`.
    pub order: Option<OrderRef>,
}

/// The order an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRef {
    /// `<OrderID>`, e.g. `N10154`.
    pub order_id: String,
    /// `<OrderStatus>`: the status the order changed to.
    pub status: OrderStatus,
}

/// A field of the document, for naming it in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `<EventID>`
    EventId,
    /// `<EventType>`
    EventType,
    /// `<CurrentTime>`
    CurrentTime,
    /// `<Order>`
    Order,
    /// `<OrderID>`
    OrderId,
    /// `<OrderStatus>`
    OrderStatus,
}

impl Field {
    /// The element's name, as the document writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::EventId => "EventID",
            Self::EventType => "EventType",
            Self::CurrentTime => "CurrentTime",
            Self::Order => "Order",
            Self::OrderId => "OrderID",
            Self::OrderStatus => "OrderStatus",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a document is not an acceptable event. The message names the problem, so the sender (or
/// the person debugging it) can tell what to fix; it quotes at most a short piece of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Larger than [`MAX_DOCUMENT`].
    #[error("the document is larger than {MAX_DOCUMENT} bytes")]
    TooLarge,
    /// Not UTF-8.
    #[error("the document is not UTF-8 text")]
    NotUtf8,
    /// The declaration names another encoding.
    #[error("the document declares encoding {0:?}; only UTF-8 is accepted")]
    Encoding(String),
    /// A DTD or an entity declaration.
    #[error(
        "the document contains a DTD or an entity declaration (<!DOCTYPE / <!ENTITY), which is not accepted"
    )]
    Dtd,
    /// An entity reference other than the predefined ones.
    #[error("the document refers to an undeclared entity &{0};")]
    UndeclaredEntity(String),
    /// A processing instruction other than the XML declaration.
    #[error("the document contains a processing instruction, which is not accepted")]
    ProcessingInstruction,
    /// Nested too deep.
    #[error("elements are nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Not well-formed XML.
    #[error("not well-formed XML: {0}")]
    Xml(String),
    /// The root element is not `<Event>`, or there is none.
    #[error("the root element must be <Event>")]
    NotAnEvent,
    /// Text where only elements belong.
    #[error("unexpected text outside the fields")]
    StrayText,
    /// A required field is absent (or empty).
    #[error("{0} is missing")]
    Missing(Field),
    /// A field given twice.
    #[error("{0} appears more than once")]
    Duplicate(Field),
    /// A field with markup inside it.
    #[error("{0} must contain text only")]
    NotText(Field),
    /// A field longer than allowed.
    #[error("{0} is too long")]
    TooLong(Field),
    /// A field whose text is not of its type.
    #[error("{field} {value:?} is not valid: {expected}")]
    Invalid {
        /// The field.
        field: Field,
        /// Its value, shortened.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// An `OrderStatus` Maropost does not document.
    #[error(
        "OrderStatus {0:?} is not one of Quote, New, On Hold, New Backorder, Backorder Approved, \
         Pick, Pack, Pending Pickup, Pending Dispatch, Dispatched, Cancelled, Uncommitted"
    )]
    UnknownStatus(String),
}

impl EventError {
    /// A short, stable name for the kind of problem (for logs, which must not quote the body).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::NotUtf8 => "not_utf8",
            Self::Encoding(_) => "encoding",
            Self::Dtd => "dtd",
            Self::UndeclaredEntity(_) => "undeclared_entity",
            Self::ProcessingInstruction => "processing_instruction",
            Self::TooDeep => "too_deep",
            Self::Xml(_) => "ill_formed",
            Self::NotAnEvent => "not_an_event",
            Self::StrayText => "stray_text",
            Self::Missing(_) => "missing_field",
            Self::Duplicate(_) => "duplicate_field",
            Self::NotText(_) => "not_text",
            Self::TooLong(_) => "too_long",
            Self::Invalid { .. } => "invalid_field",
            Self::UnknownStatus(_) => "unknown_status",
        }
    }
}
