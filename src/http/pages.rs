//! The web pages and their files (`static/`): embedded in the binary so one file deploys (debug
//! builds read them from disk instead, so a page can be edited without a rebuild). Each file is
//! compressed once, and revalidated by its hash.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use dashmap::DashMap;
use std::sync::LazyLock;

use super::AppState;
use crate::domain::embed;
use crate::error::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "static/"]
struct Files;

/// A file ready to send: its ETag, its bytes, and those bytes gzip'd when that is smaller.
struct Prepared {
    etag: HeaderValue,
    plain: web::Bytes,
    gzip: Option<web::Bytes>,
    content_type: &'static str,
}

static PREPARED: LazyLock<DashMap<String, Arc<Prepared>>> = LazyLock::new(DashMap::new);

/// What a page may load and talk to: only this server. Who may frame it is added per page.
const PAGE_POLICY: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline'; script-src 'self'; base-uri 'none'; form-action 'self'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| async { redirect("/staff") }));
    // Framed by no one: a console in another site's frame could be clicked through by it.
    for (path, file) in [
        ("/staff", "staff.html"),
        ("/admin", "admin.html"),
        ("/display", "display.html"),
        ("/display/{queue_id}", "display.html"),
        ("/kiosk", "kiosk.html"),
        ("/b/{queue_id}", "book.html"),
        ("/a/{appointment_id}", "appointment.html"),
    ] {
        let handler = move |req: HttpRequest| async move { page(&req, file, &[]) };
        cfg.service(web::resource(path).route(web::get().to(handler)).route(web::head().to(handler)));
    }
    // Framed by the origins the queue lists (`settings.embed_origins`): a venue's own website.
    cfg.service(web::resource("/q/{queue_id}").route(web::get().to(join_page)).route(web::head().to(join_page)));
    cfg.service(web::resource("/t/{ticket_id}").route(web::get().to(ticket_page)).route(web::head().to(ticket_page)));
    cfg.service(web::resource("/static/{file:.+}").route(web::get().to(asset)).route(web::head().to(asset)));
    cfg.route("/favicon.ico", web::get().to(|req: HttpRequest| async move { serve(&req, "icon.svg") }));
}

fn redirect(to: &'static str) -> HttpResponse {
    HttpResponse::Found().insert_header((header::LOCATION, to)).finish()
}

async fn asset(req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    serve(&req, &file)
}

/// The join page, framed only by its queue's `embed_origins`.
async fn join_page(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    // A path that is no queue still gets the page (it says so), framed by no one.
    let origins = match id.parse() {
        Ok(queue) => state.store.embed_origins(queue).await.unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    page(&req, "join.html", &origins)
}

/// A ticket's page, framed by what its queue's join page is (a join in a frame continues there).
async fn ticket_page(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    let origins = match id.parse() {
        Ok(ticket) => state.store.embed_origins_of_ticket(ticket).await.unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    page(&req, "ticket.html", &origins)
}

fn page(req: &HttpRequest, file: &str, frame_origins: &[String]) -> HttpResponse {
    let mut res = serve(req, file);
    let h = res.headers_mut();
    let policy = format!("{PAGE_POLICY}; {}", embed::frame_ancestors(frame_origins));
    // The origins were checked to be header-safe when saved; were one not, no one frames it.
    let policy = HeaderValue::from_str(&policy).unwrap_or_else(|_| {
        HeaderValue::from_str(&format!("{PAGE_POLICY}; {}", embed::frame_ancestors(&[])))
            .unwrap_or(HeaderValue::from_static(PAGE_POLICY))
    });
    h.insert(header::CONTENT_SECURITY_POLICY, policy);
    if frame_origins.is_empty() {
        // For browsers that predate frame-ancestors.
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    // A ticket's page may carry its token in the address: never hand it to another site.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

fn serve(req: &HttpRequest, file: &str) -> HttpResponse {
    let Some(prepared) = prepared(file) else {
        return actix_web::ResponseError::error_response(&ApiError::NotFound);
    };
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == prepared.etag));
    let mut res = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    res.insert_header((header::ETAG, prepared.etag.clone()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if fresh {
        return res.finish();
    }
    res.content_type(prepared.content_type);
    match &prepared.gzip {
        Some(gzip) if accepts_gzip(req) => res.insert_header((header::CONTENT_ENCODING, "gzip")).body(gzip.clone()),
        _ => res.body(prepared.plain.clone()),
    }
}

/// The file, prepared once per content: a file edited on disk (debug builds) is prepared again.
fn prepared(file: &str) -> Option<Arc<Prepared>> {
    let content_type = content_type(file)?;
    let found = Files::get(file)?;
    let hash = found.metadata.sha256_hash();
    let etag = format!("\"{}\"", crate::secret::hex(&hash[..12]));
    if let Some(p) = PREPARED.get(file).filter(|p| p.etag == etag.as_str()) {
        return Some(p.clone());
    }
    let plain = web::Bytes::from(found.data.into_owned());
    let prepared = Arc::new(Prepared {
        etag: HeaderValue::from_str(&etag).ok()?,
        gzip: gzip(&plain).filter(|g| g.len() < plain.len()),
        plain,
        content_type,
    });
    PREPARED.insert(file.to_owned(), prepared.clone());
    Some(prepared)
}

/// Only the kinds of file the pages use are served; anything else in the folder is not.
fn content_type(file: &str) -> Option<&'static str> {
    Some(match file.rsplit_once('.')?.1 {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webmanifest" => "application/manifest+json",
        _ => return None,
    })
}

fn gzip(data: &[u8]) -> Option<web::Bytes> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).ok()?;
    enc.finish().ok().map(web::Bytes::from)
}

fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers().get_all(header::ACCEPT_ENCODING).filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or("").trim();
            let refused = it.any(|p| p.trim().strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>() == Ok(0.0)));
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn gzip_is_accepted_unless_refused() {
        let with = |v: &str| {
            accepts_gzip(&TestRequest::default().insert_header((header::ACCEPT_ENCODING, v)).to_http_request())
        };
        assert!(with("gzip"));
        assert!(with("br, gzip;q=0.8"));
        assert!(with("*"));
        assert!(!with("identity"));
        assert!(!with("gzip;q=0"));
        assert!(!with("br, gzip; q=0.0"));
        assert!(!accepts_gzip(&TestRequest::default().to_http_request()));
    }

    #[test]
    fn only_page_files_are_served() {
        assert_eq!(content_type("qc.js"), Some("text/javascript; charset=utf-8"));
        assert_eq!(content_type("../Cargo.toml"), None);
        assert_eq!(content_type("README"), None);
        assert!(prepared("qc.js").is_some());
        assert!(prepared("nope.js").is_none());
    }
}
