//! Property tests of the notification parser: arbitrary bytes, token soup and mutations of valid
//! documents. It never panics, always answers quickly, accepts every valid document it is given,
//! and never accepts a document that an independent XML parser (roxmltree, no DTDs) finds
//! ill-formed, or whose fields it reads differently.
//!
//! Bounded (a few hundred cases per property, small documents) so the suite stays quick.

use std::time::{Duration, Instant};

use proptest::{prelude::*, test_runner::Config};
use storelink::{
    domain::OrderStatus,
    platforms::maropost::webhooks::{
        order_event::{self, MAX_DEPTH, OrderEvent},
        order_xml,
    },
};

/// What the oracle reads from a document it finds acceptable.
#[derive(Debug, PartialEq, Eq)]
struct Fields {
    event_id: String,
    event_type: String,
    current_time: Option<String>,
    order: Option<(String, String)>,
}

impl From<&OrderEvent> for Fields {
    fn from(e: &OrderEvent) -> Self {
        Self {
            event_id: e.event_id.clone(),
            event_type: e.event_type.clone(),
            current_time: e.current_time.clone(),
            order: e
                .order
                .as_ref()
                .map(|o| (o.order_id.clone(), o.status.as_str().to_owned())),
        }
    }
}

/// The oracle: roxmltree (which refuses DTDs) for well-formedness, then the document's shape,
/// read independently of the parser under test. `None` when the document is not acceptable.
fn oracle(body: &[u8]) -> Option<Fields> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = std::str::from_utf8(body).ok()?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options).ok()?;
    if doc.descendants().any(|n| n.is_pi()) {
        return None;
    }
    let depth = doc
        .descendants()
        .filter(|n| n.is_element())
        .map(|n| n.ancestors().filter(|a| a.is_element()).count())
        .max()?;
    if depth > MAX_DEPTH {
        return None;
    }
    // Names as written (with any prefix), since the parser matches them literally.
    let written = |node: roxmltree::Node<'_, '_>| -> String {
        text[node.range()]
            .trim_start_matches('<')
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
            .collect()
    };
    let root = doc.root_element();
    if written(root) != "Event" {
        return None;
    }
    let blank = |s: &str| s.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    // No stray text directly in <Event> or <Order>.
    let stray = |node: roxmltree::Node<'_, '_>| {
        node.children()
            .any(|c| c.is_text() && !blank(c.text().unwrap_or("")))
    };
    if stray(root) {
        return None;
    }
    let only = |parent: roxmltree::Node<'_, '_>, name: &str| -> Result<Option<String>, ()> {
        let mut found = parent
            .children()
            .filter(|c| c.is_element() && written(*c) == name);
        let first = found.next();
        if found.next().is_some() {
            return Err(());
        }
        match first {
            None => Ok(None),
            Some(node) if node.children().any(|c| c.is_element()) => Err(()),
            Some(node) => {
                let value: String = node
                    .children()
                    .filter(|c| c.is_text())
                    .filter_map(|c| c.text())
                    .collect();
                let value = value
                    .trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
                    .to_owned();
                Ok((!value.is_empty()).then_some(value))
            }
        }
    };
    let event_id = only(root, "EventID").ok()??;
    let token = |s: &str| s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic());
    if !token(&event_id) {
        return None;
    }
    let event_type = only(root, "EventType").ok()??;
    if !token(&event_type) {
        return None;
    }
    let current_time = only(root, "CurrentTime").ok()?;
    let orders: Vec<_> = root
        .children()
        .filter(|c| c.is_element() && written(*c) == "Order")
        .collect();
    let order = match orders.as_slice() {
        [] if event_type == "Order" => return None,
        [] => None,
        [order] => {
            if stray(*order) {
                return None;
            }
            let id = only(*order, "OrderID").ok()??;
            let status = only(*order, "OrderStatus").ok()??;
            if !token(&id) || OrderStatus::parse(&status).is_none() {
                return None;
            }
            Some((id, status))
        }
        _ => return None,
    };
    Some(Fields {
        event_id,
        event_type,
        current_time,
        order,
    })
}

/// Parses with a stopwatch: it must never take long, whatever the input.
fn timed_parse(body: &[u8]) -> Result<OrderEvent, order_event::EventError> {
    let started = Instant::now();
    let result = order_xml::parse(body);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "parsing took {:?}: {:?}",
        started.elapsed(),
        String::from_utf8_lossy(body)
    );
    result
}

/// The parser never accepts what the oracle refuses, and reads the same fields.
fn check_against_oracle(body: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(parsed) = timed_parse(body) {
        let expected = oracle(body);
        prop_assert!(
            expected.is_some(),
            "accepted a document the oracle refuses: {:?}",
            String::from_utf8_lossy(body)
        );
        prop_assert_eq!(Some(Fields::from(&parsed)), expected);
        // A parsed event always satisfies its own invariants.
        prop_assert!(parsed.event_id.bytes().all(|b| b.is_ascii_graphic()));
        if let Some(order) = &parsed.order {
            prop_assert!(OrderStatus::ALL.contains(&order.status));
        }
    }
    Ok(())
}

/// Pieces of XML, good and bad, for token soup and mutations.
const TOKENS: &[&str] = &[
    "<Event>",
    "</Event>",
    "<EventID>",
    "</EventID>",
    "<EventType>",
    "</EventType>",
    "<CurrentTime>",
    "</CurrentTime>",
    "<Order>",
    "</Order>",
    "<OrderID>",
    "</OrderID>",
    "<OrderStatus>",
    "</OrderStatus>",
    "Order",
    "Pick",
    "On Hold",
    "Pending Dispatch",
    "N10154",
    "34",
    "2024-01-03 01:11:12",
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
    "<?xml version=\"1.1\"?>",
    "<?pi x?>",
    "<!DOCTYPE Event>",
    "<!DOCTYPE Event [<!ENTITY x \"y\">]>",
    "<!ENTITY lol \"lol\">",
    "<!-- note -->",
    "<!-- a -- b -->",
    "<![CDATA[7]]>",
    "<![CDATA[<x>]]>",
    "]]>",
    "&amp;",
    "&lt;",
    "&#49;",
    "&#x31;",
    "&#0;",
    "&lol;",
    "&",
    "<",
    ">",
    "\"",
    "'",
    "=",
    " ",
    "\n",
    "\t",
    "\u{1}",
    "\u{FEFF}",
    "é",
    "<x>",
    "</x>",
    "<x/>",
    "<x a=\"1\">",
    "<x a=\"1\" a=\"2\">",
    "<x a=\"1\"b=\"2\">",
    "<p:x xmlns:p=\"urn:p\">",
    "</p:x>",
    "<q:x>",
    " xmlns=\"urn:e\"",
    " xmlns:p=\"urn:p\"",
    " p:a=\"1\"",
    " xml:lang=\"en\"",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..48).prop_map(|t| t.concat())
}

/// A valid notification: documented fields in any order, optional extras, whitespace, comments
/// and an optional declaration.
fn valid_document() -> impl Strategy<Value = (String, Fields)> {
    let status = prop::sample::select(OrderStatus::ALL.to_vec());
    let space = prop::sample::select(vec!["", " ", "\n", "\n  ", "\r\n\t"]);
    (
        "[0-9]{1,20}",
        "[A-Za-z]{1,12}",
        proptest::option::of(
            "20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9])[ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]",
        ),
        proptest::option::of(("[A-Za-z0-9_.-]{1,20}", status)),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(space, 8),
        any::<prop::sample::Index>(),
    )
        .prop_map(
            |(event_id, event_type, time, order, declaration, extra, spaces, shuffle)| {
                let event_type = if order.is_some() {
                    "Order".to_owned()
                } else if event_type == "Order" {
                    "Ping".to_owned()
                } else {
                    event_type
                };
                let mut children = vec![
                    format!("<EventID>{}{event_id}</EventID>", spaces[0]),
                    format!("<EventType>{event_type}{}</EventType>", spaces[1]),
                ];
                if let Some(time) = &time {
                    children.push(format!("<CurrentTime>{time}</CurrentTime>"));
                }
                if let Some((id, status)) = &order {
                    children.push(format!(
                        "<Order>{}<OrderStatus>{status}</OrderStatus>{}<OrderID>{id}</OrderID></Order>",
                        spaces[2], spaces[3]
                    ));
                }
                if extra {
                    children.push("<Extra note=\"a &amp; b\"><Inner/>text</Extra>".to_owned());
                    children.push("<!-- comment -->".to_owned());
                }
                let rotate = shuffle.index(children.len());
                children.rotate_left(rotate);
                let mut doc = String::new();
                if declaration {
                    doc.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
                    doc.push_str(spaces[4]);
                }
                doc.push_str("<Event>");
                for child in &children {
                    doc.push_str(child);
                    doc.push_str(spaces[5]);
                }
                doc.push_str("</Event>");
                doc.push_str(spaces[6]);
                let fields = Fields {
                    event_id,
                    event_type,
                    current_time: time,
                    order: order.map(|(id, status)| (id, status.as_str().to_owned())),
                };
                (doc, fields)
            },
        )
}

/// One edit of a document.
#[derive(Debug, Clone)]
enum Mutation {
    Delete {
        at: prop::sample::Index,
        len: usize,
    },
    Insert {
        at: prop::sample::Index,
        token: &'static str,
    },
    Replace {
        at: prop::sample::Index,
        byte: u8,
    },
    Duplicate {
        at: prop::sample::Index,
        len: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), 1..12usize)
            .prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<prop::sample::Index>(), prop::sample::select(TOKENS))
            .prop_map(|(at, token)| Mutation::Insert { at, token }),
        (any::<prop::sample::Index>(), any::<u8>())
            .prop_map(|(at, byte)| Mutation::Replace { at, byte }),
        (any::<prop::sample::Index>(), 1..24usize)
            .prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

fn apply(doc: &mut Vec<u8>, mutation: &Mutation) {
    let len = doc.len();
    match mutation {
        Mutation::Delete { at, len: n } if len > 0 => {
            let start = at.index(len);
            let end = (start + n).min(len);
            doc.drain(start..end);
        }
        Mutation::Insert { at, token } => {
            let start = at.index(len + 1);
            doc.splice(start..start, token.bytes());
        }
        Mutation::Replace { at, byte } if len > 0 => {
            let i = at.index(len);
            doc[i] = *byte;
        }
        Mutation::Duplicate { at, len: n } if len > 0 => {
            let start = at.index(len);
            let end = (start + n).min(len);
            let copy = doc[start..end].to_vec();
            doc.splice(end..end, copy);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(Config {
        // PROPTEST_CASES=100000 for a longer hunt.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512),
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic_nor_pass_unchecked(body in prop::collection::vec(any::<u8>(), 0..1024)) {
        check_against_oracle(&body)?;
    }

    #[test]
    fn token_soup_is_judged_like_the_oracle_does(doc in token_soup()) {
        check_against_oracle(doc.as_bytes())?;
    }

    #[test]
    fn valid_documents_are_accepted_as_written((doc, fields) in valid_document()) {
        let parsed = timed_parse(doc.as_bytes());
        prop_assert!(parsed.is_ok(), "refused {doc:?}: {parsed:?}");
        let parsed = parsed.unwrap();
        prop_assert_eq!(Fields::from(&parsed), fields);
        prop_assert!(oracle(doc.as_bytes()).is_some(), "the oracle agrees it is valid");
    }

    #[test]
    fn mutated_documents_are_never_accepted_malformed(
        (doc, _) in valid_document(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let mut body = doc.into_bytes();
        for m in &mutations {
            apply(&mut body, m);
        }
        check_against_oracle(&body)?;
    }

    #[test]
    fn nesting_is_bounded(depth in 0..64usize) {
        let open: String = (0..depth).map(|_| "<x>").collect();
        let close: String = (0..depth).map(|_| "</x>").collect();
        let doc = format!("<Event><EventID>1</EventID><EventType>Ping</EventType>{open}{close}</Event>");
        let parsed = timed_parse(doc.as_bytes());
        prop_assert_eq!(parsed.is_ok(), depth < MAX_DEPTH, "depth {}", depth);
    }
}

#[test]
fn huge_inputs_are_refused_quickly() {
    // Deep, wide and long documents right up to the size limit.
    let limit = order_event::MAX_DOCUMENT;
    let deep = "<x>".repeat(limit / 3);
    let wide = format!("<Event>{}</Event>", "<x/>".repeat((limit - 20) / 4));
    let long_text = format!(
        "<Event><EventID>{}</EventID></Event>",
        "1".repeat(limit - 40)
    );
    let refs = format!(
        "<Event><EventID>{}</EventID></Event>",
        "&amp;".repeat((limit - 40) / 5)
    );
    for doc in [deep, wide, long_text, refs] {
        assert!(doc.len() <= limit);
        assert!(timed_parse(doc.as_bytes()).is_err());
    }
}
