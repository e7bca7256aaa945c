//! Which sites may show a queue's join page in a frame (`settings.embed_origins`), and the
//! `frame-ancestors` directive that says so. Staff pages are never framed.

use serde_json::Value;

/// Origins a queue may list at most.
pub const MAX_EMBED_ORIGINS: usize = 20;

/// Checks `settings.embed_origins`: a list of origins (`https://venue.example`, or
/// `http://localhost[:port]` for trying it out); the origins, as written.
pub fn parse(value: Option<&Value>) -> Result<Vec<String>, String> {
    let Some(value) = value.filter(|v| !v.is_null()) else { return Ok(Vec::new()) };
    let bad = || {
        format!(
            "settings.embed_origins: a list of at most {MAX_EMBED_ORIGINS} origins such as \"https://venue.example\" \
             (scheme and host, no path)"
        )
    };
    let list = value.as_array().filter(|l| l.len() <= MAX_EMBED_ORIGINS).ok_or_else(bad)?;
    list.iter().map(|o| o.as_str().filter(|o| valid_origin(o)).map(str::to_owned).ok_or_else(bad)).collect()
}

/// `https://host[:port]` (or `http://` for localhost): lowercase letters, digits, dots and
/// dashes in the host; nothing a header could be bent with.
fn valid_origin(origin: &str) -> bool {
    let (scheme, rest) = match origin.split_once("://") {
        Some(parts) => parts,
        None => return false,
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && !host.starts_with(['.', '-']);
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
    let scheme_ok = scheme == "https" || (scheme == "http" && host == "localhost");
    host_ok && port_ok && scheme_ok
}

/// The `frame-ancestors` of a page that may be framed by `origins` (none: by no one).
pub fn frame_ancestors(origins: &[String]) -> String {
    if origins.is_empty() {
        "frame-ancestors 'none'".into()
    } else {
        format!("frame-ancestors 'self' {}", origins.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn origins_are_checked() {
        let ok = json!(["https://venue.example", "https://www.venue.example:8443", "http://localhost:3000"]);
        assert_eq!(parse(Some(&ok)).unwrap().len(), 3);
        assert_eq!(parse(None).unwrap(), Vec::<String>::new());
        for bad in [
            json!("https://venue.example"),
            json!(["https://venue.example/path"]),
            json!(["http://venue.example"]),
            json!(["https://venue.example; script-src *"]),
            json!(["*"]),
            json!(["https://VENUE.example"]),
            json!([42]),
        ] {
            assert!(parse(Some(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_directive_names_the_origins_or_no_one() {
        assert_eq!(frame_ancestors(&[]), "frame-ancestors 'none'");
        assert_eq!(
            frame_ancestors(&["https://a.example".into(), "https://b.example".into()]),
            "frame-ancestors 'self' https://a.example https://b.example"
        );
    }
}
