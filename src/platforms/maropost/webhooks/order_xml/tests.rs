//! The reader against good, odd and hostile documents.

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
    let parsed = event("<Event><EventID>9</EventID><EventType>Ping</EventType></Event>").unwrap();
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
