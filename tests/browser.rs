//! The HTML report in a real browser: headless Chromium driven over the
//! DevTools protocol. The page must load with no console errors and no
//! network requests, draw its charts, sort its tables, fit a phone's width
//! and print. Screenshots and the PDF are saved under the test output
//! directory (`CARGO_TARGET_TMPDIR/report-in-browser/`).
//!
//! Needs Chromium (Debian's `chromium`, installed by `.ci/run`; or set
//! `DITBENCH_CHROMIUM`). Without one the test says so and passes, unless
//! `DITBENCH_REQUIRE_BROWSER=1` (as in CI), where it fails.

mod common;

use std::io::ErrorKind;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use common::ditbench;

fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DITBENCH_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let names = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ];
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.map(|n| dir.join(n)))
        .find(|p| p.is_file())
}

/// One headless Chromium with one page, spoken to over the DevTools protocol.
struct Browser {
    child: Child,
    socket: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    /// Every event received so far (method and params).
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch(chromium: &Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        // Flags that keep Chromium off the network: this machine has none,
        // and a report must not need it.
        let child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
        // Chromium writes its port and browser endpoint here once listening.
        let port_file = profile.path().join("DevToolsActivePort");
        let start = Instant::now();
        let (port, path) = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break (port.to_string(), path.to_string());
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "Chromium did not open its DevTools port"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let stream = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let (socket, _) = tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), stream)
            .expect("DevTools websocket handshake");
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        for domain in ["Page", "Runtime", "Log", "Network"] {
            browser.call(&format!("{domain}.enable"), json!({}));
        }
        browser
    }

    fn receive(&mut self) -> Value {
        loop {
            match self.socket.read() {
                Ok(Message::Text(text)) => return serde_json::from_str(&text).unwrap(),
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    panic!("Chromium did not answer within 60 s")
                }
                Err(e) => panic!("DevTools connection: {e}"),
            }
        }
    }

    /// Send a command (to the page once attached) and wait for its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = self.session.clone().into();
        }
        self.socket
            .send(Message::text(message.to_string()))
            .unwrap();
        loop {
            let reply = self.receive();
            if reply["id"] == id {
                assert!(reply["error"].is_null(), "{method}: {}", reply["error"]);
                return reply["result"].clone();
            }
            if reply["method"].is_string() {
                self.events.push(reply);
            }
        }
    }

    fn wait_for_event(&mut self, method: &str) {
        if self.events.iter().any(|e| e["method"] == method) {
            return;
        }
        loop {
            let message = self.receive();
            let found = message["method"] == method;
            self.events.push(message);
            if found {
                return;
            }
        }
    }

    /// Load `url` and wait for its load event; events start afresh.
    fn open(&mut self, url: &str) {
        self.events.clear();
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for_event("Page.loadEventFired");
        // Let the page's script and any late console messages arrive.
        self.evaluate("new Promise(r => setTimeout(() => r(true), 200))");
    }

    /// Evaluate a JavaScript expression in the page; its value as JSON.
    fn evaluate(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Console errors, uncaught exceptions, and browser log errors (a script
    /// blocked by the page's Content-Security-Policy is one). Warnings are
    /// printed, not counted: their wording changes between Chromium versions.
    fn problems(&self) -> Vec<String> {
        for e in &self.events {
            let p = &e["params"];
            if p["type"] == "warning" || p["entry"]["level"] == "warning" {
                eprintln!("browser warning: {p}");
            }
        }
        self.events
            .iter()
            .filter_map(|e| {
                let p = &e["params"];
                match e["method"].as_str()? {
                    "Runtime.consoleAPICalled"
                        if matches!(p["type"].as_str(), Some("error" | "assert")) =>
                    {
                        Some(format!("console.{}: {}", p["type"], p["args"]))
                    }
                    "Runtime.exceptionThrown" => {
                        Some(format!("exception: {}", p["exceptionDetails"]))
                    }
                    "Log.entryAdded" if p["entry"]["level"] == "error" => {
                        Some(format!("log: {}", p["entry"]["text"]))
                    }
                    _ => None,
                }
            })
            .collect()
    }

    /// Every URL the page asked for.
    fn requests(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .map(|e| {
                e["params"]["request"]["url"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }

    fn screenshot(&mut self, path: &Path) {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

#[test]
fn report_works_in_headless_chromium() {
    let Some(chromium) = find_chromium() else {
        assert!(
            std::env::var_os("DITBENCH_REQUIRE_BROWSER").is_none(),
            "DITBENCH_REQUIRE_BROWSER is set but no Chromium was found (install Debian's chromium or set DITBENCH_CHROMIUM)"
        );
        eprintln!("SKIPPED: no Chromium found; the report was not checked in a browser");
        return;
    };
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-in-browser");
    std::fs::create_dir_all(&out).unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Two machines (one with a failure, a skip and a parity failure) and a sweep.
    let first = fixture("cpu-vm-tiny.json");
    let mut second = fixture("cpu-vm-tiny.json");
    second["environment"]["host"] = "second-box".into();
    for c in second["cases"].as_array_mut().unwrap() {
        let stats = &mut c["stats"];
        let m = stats["median_s"].as_f64().unwrap();
        stats["median_s"] = (0.5 * m).into();
        for bound in stats["ci95_median_s"].as_array_mut().unwrap() {
            *bound = (0.5 * bound.as_f64().unwrap()).into();
        }
    }
    second["cases"][0]["status"] = "failed".into();
    second["cases"][0]["error"] = "worker crashed".into();
    second["cases"][2]["parity"]["status"] = "fail".into();
    let sweep = fixture("cpu-vm-sweep.json");
    let mut inputs = Vec::new();
    for (name, json) in [("a.json", &first), ("b.json", &second), ("c.json", &sweep)] {
        let path = dir.path().join(name);
        std::fs::write(&path, json.to_string()).unwrap();
        inputs.push(path);
    }
    let page = dir.path().join("report.html");
    let status = ditbench()
        .arg("report")
        .args(&inputs)
        .arg("-o")
        .arg(&page)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");

    let mut browser = Browser::launch(&chromium);

    // The checks can fail: a script the page's policy does not allow is caught.
    let blocked = dir.path().join("blocked.html");
    std::fs::write(
        &blocked,
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='\"></head><body><script>document.title='ran'</script></body></html>",
    )
    .unwrap();
    browser.open(&file_url(&blocked));
    assert!(
        !browser.problems().is_empty(),
        "a blocked script went unnoticed"
    );
    assert_ne!(browser.evaluate("document.title"), "ran");

    // A laptop screen.
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
    );
    browser.open(&file_url(&page));
    let problems = browser.problems();
    assert!(problems.is_empty(), "console problems: {problems:#?}");
    let page_url = file_url(&page);
    let foreign: Vec<String> = browser
        .requests()
        .into_iter()
        .filter(|u| u != &page_url && !u.starts_with("data:"))
        .collect();
    assert!(foreign.is_empty(), "the page requested {foreign:?}");

    // Every section is there, every chart has drawn at a visible size.
    let sections = browser.evaluate("Array.from(document.querySelectorAll('h2')).map(h => h.id)");
    assert_eq!(
        sections,
        json!([
            "claims",
            "buyer",
            "summary",
            "frameworks",
            "hardware",
            "dit-vs-llm",
            "scaling",
            "raw",
            "definitions"
        ])
    );
    // A verdict per claim, in words that say whether it holds.
    let verdicts = browser.evaluate(
        "Array.from(document.querySelectorAll('.claim')).map(c => [c.id, c.querySelector('.claim-verdict').textContent])",
    );
    let verdicts = verdicts.as_array().unwrap();
    assert_eq!(verdicts.len(), 3, "{verdicts:?}");
    for (v, id) in verdicts.iter().zip(["claim-C1", "claim-C2", "claim-C3"]) {
        assert_eq!(v[0], id);
        let text = v[1].as_str().unwrap();
        assert!(
            text.starts_with("Verdict: Holds") || text.starts_with("Verdict: Does not hold"),
            "{text}"
        );
    }
    // At 1400 px the main tables (claims, buyer's view, frameworks) show
    // every column without scrolling sideways.
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
    );
    let scrolling = browser.evaluate(
        "Array.from(document.querySelectorAll('.table-wrap.main')).filter(w => w.offsetParent !== null && w.scrollWidth > w.clientWidth + 1).map(w => [w.scrollWidth, w.clientWidth, Array.from(w.querySelectorAll('thead th')).map(t => t.textContent.trim().slice(0, 14) + ': ' + Math.round(t.getBoundingClientRect().width)).join(', ')])",
    );
    assert_eq!(scrolling, json!([]), "tables that scroll at 1400 px");
    let main_tables = browser.evaluate("document.querySelectorAll('.table-wrap.main').length");
    assert!(main_tables.as_u64().unwrap() > 8, "{main_tables}");
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
    );
    let charts = browser.evaluate(
        "Array.from(document.querySelectorAll('.chart svg')).filter(s => s.getBoundingClientRect().width > 0).map(s => { const r = s.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height), s.querySelectorAll('rect, polyline, path, circle').length]; })",
    );
    let charts = charts.as_array().unwrap();
    // Each chart is drawn twice (wide and phone); one of each is shown.
    let expected = std::fs::read_to_string(&page)
        .unwrap()
        .matches("<svg")
        .count();
    assert_eq!(2 * charts.len(), expected);
    for c in charts {
        assert!(
            c[0].as_f64().unwrap() > 300.0 && c[1].as_f64().unwrap() > 80.0,
            "{c}"
        );
        assert!(c[2].as_u64().unwrap() > 3, "chart without marks: {c}");
    }

    // The sort script ran on every sortable table, and sorts.
    let tables = browser.evaluate(
        "[document.querySelectorAll('table.sortable').length, document.querySelectorAll('table.sort-ready').length]",
    );
    assert!(
        tables[0].as_u64().unwrap() > 5 && tables[0] == tables[1],
        "{tables}"
    );
    let medians = "Array.from(document.querySelectorAll('#raw-table tbody tr')).map(r => Number(r.cells[9].dataset.sort))";
    let click =
        "document.querySelectorAll('#raw-table thead th')[9].querySelector('button').click()";
    let original = browser.evaluate(medians);
    browser.evaluate(click);
    let ascending = browser.evaluate(medians);
    browser.evaluate(click);
    let descending = browser.evaluate(medians);
    let values = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let mut sorted = values(&original);
    sorted.sort_by(f64::total_cmp);
    assert_eq!(values(&ascending), sorted);
    sorted.reverse();
    assert_eq!(values(&descending), sorted);
    assert_eq!(
        browser.evaluate(
            "document.querySelectorAll('#raw-table thead th')[9].getAttribute('aria-sort')"
        ),
        "descending"
    );
    browser.screenshot(&out.join("desktop.png"));

    // A phone: the page itself never scrolls sideways (wide tables scroll in
    // their own box).
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true}),
    );
    browser.open(&page_url);
    assert!(browser.problems().is_empty(), "{:#?}", browser.problems());
    let width = browser.evaluate("[document.documentElement.scrollWidth, window.innerWidth]");
    assert!(
        width[0].as_f64().unwrap() <= width[1].as_f64().unwrap() + 1.0,
        "page overflows a phone: {width}"
    );
    // Phone charts are drawn near the phone's width, so their labels keep
    // their size (at least 85% of it).
    let charts = browser.evaluate(
        "Array.from(document.querySelectorAll('.chart svg')).filter(s => s.getBoundingClientRect().width > 0).map(s => s.getBoundingClientRect().width / s.width.baseVal.value)",
    );
    let charts = charts.as_array().unwrap();
    assert!(!charts.is_empty());
    for scale in charts {
        assert!(
            scale.as_f64().unwrap() > 0.85,
            "a chart shrunk to {scale} of its size"
        );
    }
    browser.screenshot(&out.join("phone.png"));
    browser.call("Emulation.clearDeviceMetricsOverride", json!({}));

    // Print.
    let pdf = browser.call("Page.printToPDF", json!({"printBackground": true}));
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(pdf["data"].as_str().unwrap())
        .unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    std::fs::write(out.join("print.pdf"), pdf).unwrap();
    eprintln!("screenshots and PDF in {}", out.display());
}
