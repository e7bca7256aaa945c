//! What a client may send on a socket, understood: an application-level ping
//! (`{"type":"ping"}`) and a customer page saying it is being looked at (`{"type":"here"}`);
//! anything else is unknown and closes the socket (4400).

use serde_json::Value;

/// A client's text frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMessage {
    /// `{"type":"ping"}`, other fields ignored: answered with `{"type":"pong"}`.
    Ping,
    /// `{"type":"here"}`: the customer is looking at their page (presence); not answered.
    Here,
    /// Anything else: not JSON, not an object, or another type.
    Unknown,
}

impl ClientMessage {
    /// Reads one text frame. Never fails: what it does not know is `Unknown`. (serde_json stops
    /// at 128 levels of nesting, so no frame can exhaust the stack.)
    pub fn parse(text: &str) -> ClientMessage {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(fields)) => match fields.get("type").and_then(Value::as_str) {
                Some("ping") => ClientMessage::Ping,
                Some("here") => ClientMessage::Here,
                _ => ClientMessage::Unknown,
            },
            _ => ClientMessage::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_ping_is_known_and_nothing_else_is() {
        assert_eq!(ClientMessage::parse(r#"{"type":"ping"}"#), ClientMessage::Ping);
        assert_eq!(ClientMessage::parse(r#" {"id": 3, "type": "ping"} "#), ClientMessage::Ping);
        assert_eq!(ClientMessage::parse(r#"{"type":"here"}"#), ClientMessage::Here);
        assert_eq!(ClientMessage::parse(r#"{"type":"HERE"}"#), ClientMessage::Unknown);
        for other in ["", "ping", "null", r#"{"type":"PING"}"#, r#"{"type":["ping"]}"#, r#"[{"type":"ping"}]"#] {
            assert_eq!(ClientMessage::parse(other), ClientMessage::Unknown, "{other}");
        }
        let deep = format!("{}{}", "[".repeat(4096), "]".repeat(4096));
        assert_eq!(ClientMessage::parse(&deep), ClientMessage::Unknown);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Any text at all is read without panicking, and is a ping only if it says so.
        #[test]
        fn any_text_is_read_and_only_pings_are_pings(text in any::<String>()) {
            let parsed = ClientMessage::parse(&text);
            let says_ping = serde_json::from_str::<Value>(&text)
                .is_ok_and(|v| v.is_object() && v["type"] == "ping");
            prop_assert_eq!(parsed == ClientMessage::Ping, says_ping);
        }

        /// A ping object with any other fields is still a ping; deep or odd JSON never panics.
        #[test]
        fn pings_with_extra_fields_are_pings(extra in proptest::collection::btree_map("[a-z]{1,8}", any::<i64>(), 0..6),
                                             depth in 0usize..300) {
            let mut object: serde_json::Map<String, Value> =
                extra.into_iter().filter(|(k, _)| k != "type").map(|(k, v)| (k, Value::from(v))).collect();
            object.insert("type".into(), "ping".into());
            prop_assert_eq!(ClientMessage::parse(&Value::Object(object).to_string()), ClientMessage::Ping);
            let nested = format!("{}{{\"type\":\"ping\"}}{}", "[".repeat(depth), "]".repeat(depth));
            prop_assert_eq!(ClientMessage::parse(&nested), if depth == 0 { ClientMessage::Ping } else { ClientMessage::Unknown });
        }
    }
}
