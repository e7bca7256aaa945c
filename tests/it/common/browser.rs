//! Headless Chromium (Debian's package) driven over WebDriver by its ChromeDriver: one driver per
//! test, one browser window per `Page`, each with a fresh profile. Screenshots go to
//! `target/screenshots/` (git-ignored).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// Chromium flags that work on our machines: no sandbox (root), no GPU, and no background
/// traffic to the outside (which this machine refuses).
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    // Pages may play a chime without a click first.
    "--autoplay-policy=no-user-gesture-required",
];

pub struct Chrome {
    driver: Child,
    url: String,
    profiles: PathBuf,
}

/// How a window looks: its size, and whether it is a phone (touch, device pixels).
#[derive(Clone, Copy)]
pub enum Screen {
    Phone,
    Desk,
    Tv,
    /// A lobby tablet standing up (1080×1920).
    Portrait,
}

impl Chrome {
    pub async fn start() -> Chrome {
        let bin = std::env::var("QC_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        assert!(
            std::path::Path::new(&bin).exists(),
            "ChromeDriver is missing at {bin}: run the tests with scripts/test, which installs chromium and chromium-driver"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let profiles = std::env::temp_dir().join(format!("qc-chrome-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&profiles).unwrap();
        let driver = Command::new(&bin)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{url}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer within 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Chrome { driver, url, profiles }
    }

    /// A new browser window, sized as `screen`.
    pub async fn page(&self, screen: Screen) -> Page {
        self.page_in(screen, None).await
    }

    /// A new browser window, sized as `screen`, whose browser speaks `lang` (its
    /// `navigator.languages` and `Accept-Language`), e.g. `fr-FR,fr`.
    pub async fn page_in(&self, screen: Screen, lang: Option<&str>) -> Page {
        let profile = self.profiles.join(uuid::Uuid::new_v4().simple().to_string());
        let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        if let Some(lang) = lang {
            args.push(format!("--lang={}", lang.split(',').next().unwrap_or(lang)));
            args.push(format!("--accept-lang={lang}"));
        }
        let mut options = json!({ "binary": chromium(), "args": args });
        if let Some(lang) = lang {
            options["prefs"] = json!({ "intl.accept_languages": lang });
        }
        // The page's own viewport, whatever the window around it.
        let (width, height, ratio, touch) = match screen {
            Screen::Phone => (390, 844, 2.0, true),
            Screen::Desk => (1440, 900, 1.0, false),
            Screen::Tv => (1920, 1080, 1.0, false),
            Screen::Portrait => (1080, 1920, 1.0, true),
        };
        options["mobileEmulation"] =
            json!({ "deviceMetrics": { "width": width, "height": height, "pixelRatio": ratio, "touch": touch } });
        let caps = json!({ "goog:chromeOptions": options, "pageLoadStrategy": "normal" });
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.as_object().unwrap().clone())
            .connect(&self.url)
            .await
            .expect("opening a Chromium session");
        Page { client, driver: self.url.clone() }
    }
}

fn chromium() -> String {
    std::env::var("QC_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Browsers of sessions a failed test never closed: found by their profile folder.
        let _ = Command::new("pkill").arg("-f").arg(self.profiles.display().to_string()).status();
        let _ = std::fs::remove_dir_all(&self.profiles);
    }
}

pub struct Page {
    pub client: Client,
    /// ChromeDriver's address, for the DevTools commands WebDriver has no word for.
    driver: String,
}

/// axe-core's script: `QC_AXE` (set by scripts/test's `axe_up`), else where `axe_up` puts it.
fn axe_script() -> String {
    let path = std::env::var("QC_AXE").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".local/axe/node_modules/axe-core/axe.min.js")
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("axe-core is missing at {} ({e}): run the tests with scripts/test, which installs it", path.display())
    })
}

impl Page {
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// Runs `body` (a function body: use `return`) in the page.
    pub async fn eval(&self, body: &str) -> Value {
        self.client.execute(body, vec![]).await.unwrap_or_else(|e| panic!("running `{body}`: {e}"))
    }

    /// Waits until the expression is truthy in the page, and answers its value. Panics after
    /// `within`, saying what the page showed.
    #[track_caller]
    pub fn wait_for<'a>(&'a self, expr: &'a str, within: Duration) -> impl std::future::Future<Output = Value> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let deadline = Instant::now() + within;
            let script = format!("try {{ return ({expr}); }} catch (e) {{ return null; }}");
            loop {
                let v = self.client.execute(&script, vec![]).await.unwrap_or(Value::Null);
                let truthy = match &v {
                    Value::Null => false,
                    Value::Bool(b) => *b,
                    Value::String(s) => !s.is_empty(),
                    Value::Number(n) => n.as_f64() != Some(0.0),
                    _ => true,
                };
                if truthy {
                    return v;
                }
                if Instant::now() >= deadline {
                    let text = self.eval("return document.body ? document.body.innerText : ''").await;
                    let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                    panic!("{caller}: `{expr}` not true within {within:?} on {url}; the page shows:\n{text}");
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }

    pub async fn click(&self, css: &str) {
        let el = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("finding {css}: {e}"));
        el.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Types into an input (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("finding {css}: {e}"));
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// Saves a screenshot as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("taking a screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Runs a DevTools command in the page (ChromeDriver's `goog/cdp/execute`).
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let session = self.client.session_id().await.unwrap().expect("a WebDriver session");
        let res = reqwest::Client::new()
            .post(format!("{}/session/{session}/goog/cdp/execute", self.driver))
            .json(&json!({ "cmd": cmd, "params": params }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{cmd}: {e}"));
        let body: Value = res.json().await.unwrap();
        assert!(body["value"].get("error").is_none(), "{cmd}: {body}");
        body["value"].clone()
    }

    /// Shows the page as printed (print stylesheets), or back on screen.
    pub async fn emulate_print(&self, on: bool) {
        self.cdp("Emulation.setEmulatedMedia", json!({ "media": if on { "print" } else { "" } })).await;
    }

    /// Checks the page as it is now with axe-core, and panics on any serious or critical
    /// violation, naming each with the elements it found. `what` says which page it was.
    pub async fn axe(&self, what: &str) {
        let loaded = self.eval("return typeof window.axe === 'object'").await;
        if loaded != Value::Bool(true) {
            self.client.execute(&axe_script(), vec![]).await.unwrap_or_else(|e| panic!("loading axe-core: {e}"));
        }
        // Colours are checked at rest: a call's flash, mid-animation, is neither state.
        let still = json!([{ "name": "prefers-reduced-motion", "value": "reduce" }]);
        self.cdp("Emulation.setEmulatedMedia", json!({ "media": "", "features": still })).await;
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
                 frame().then(frame).then(() => axe.run(document, { resultTypes: ['violations'] }))
                   .then((r) => done(r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
                     .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }))))
                   .catch((e) => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));",
                vec![],
            )
            .await
            .unwrap_or_else(|e| panic!("running axe-core: {e}"));
        self.cdp("Emulation.setEmulatedMedia", json!({ "media": "", "features": [] })).await;
        let found = found.as_array().cloned().unwrap_or_default();
        assert!(
            found.is_empty(),
            "{what}: accessibility violations (serious or critical):\n{}",
            serde_json::to_string_pretty(&found).unwrap()
        );
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
