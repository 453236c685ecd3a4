//! `ditbench report`: HTML, Markdown and CSV from committed results files
//! (a real tiny run on a 2-core VM), plus variants made in the test: a
//! second machine, a failed and a skipped case, a parity failure, and
//! hostile strings.

mod common;

use std::path::{Path, PathBuf};

use common::ditbench;
use serde_json::Value;

const FIXTURE: &str = "tests/fixtures/cpu-vm-tiny.json";

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn write(dir: &Path, name: &str, json: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(json).unwrap()).unwrap();
    path
}

/// A second machine: same cases, another host, every case 2x slower, one
/// case failed, one skipped and one failing parity.
fn second_machine(host: &str) -> Value {
    let mut json = fixture();
    json["environment"]["host"] = host.into();
    let cases = json["cases"].as_array_mut().unwrap();
    for c in cases.iter_mut() {
        let m = c["stats"]["median_s"].as_f64().unwrap();
        c["stats"]["median_s"] = (2.0 * m).into();
    }
    cases[0]["status"] = "failed".into();
    cases[0]["error"] = "worker crashed: SIGSEGV".into();
    cases[1]["status"] = "skipped".into();
    cases[1]["reason"] = "estimated memory exceeds RAM".into();
    let p = &mut cases[3]["parity"];
    if p.is_object() {
        p["status"] = "fail".into();
        p["detail"] = "output relative error 3.0e-2 > 1e-4".into();
    }
    json
}

fn report(args: &[&str]) -> (Option<i32>, String, String) {
    let out = ditbench().arg("report").args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn html_report_has_every_section_and_needs_no_network() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", &fixture());
    let b = write(dir.path(), "b.json", &second_machine("gpu-box"));
    let out = dir.path().join("report.html");
    let (code, _, stderr) = report(&[
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let html = std::fs::read_to_string(&out).unwrap();
    for needle in [
        "<h2 id=\"summary\">",
        "<h2 id=\"frameworks\">",
        "<h2 id=\"dit-vs-llm\">",
        "<h2 id=\"hardware\">",
        "(0.5x)",
        "<span class=\"meta\">missing</span>",
        "<h2 id=\"raw\">",
        "wan-tiny · forward · f32",
        "llama-tiny · train · f32",
        "gpu-box",
        "worker crashed: SIGSEGV",
        "estimated memory exceeds RAM",
        "output relative error 3.0e-2",
        "sora-3b-guess-720p",
        "llama-2-70b",
        "LLM-equivalent tokens",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    // Every comparison has its chart, drawn inline.
    assert!(html.matches("<svg").count() >= 4);
    // Self-contained: no scripts, no external resources.
    let lower = html.to_lowercase();
    for forbidden in ["<script", "<link", "src=", "url(", "@import"] {
        assert!(!lower.contains(forbidden), "found {forbidden}");
    }
    assert_eq!(
        lower.matches("://").count(),
        lower.matches("http://www.w3.org/2000/svg").count(),
        "only SVG namespaces may name a URL"
    );
    // Never replaces a file.
    let before = std::fs::read(&out).unwrap();
    let (code, _, stderr) = report(&[a.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

#[test]
fn strings_from_results_files_stay_text() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = "<script>alert(1)</script>";
    let mut json = second_machine(hostile);
    json["cases"][0]["error"] = "\"><img src=x onerror=alert(2)>".into();
    json["environment"]["cpu_model"] = "=HYPERLINK(\"http://x\"),| # *bold*".into();
    let file = write(dir.path(), "hostile.json", &json);
    let (code, html, _) = report(&[file.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert!(!html.contains(hostile));
    assert!(!html.contains("<img"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"));
    let (_, md, _) = report(&[file.to_str().unwrap(), "--format", "md"]);
    assert!(!md.contains("<script>"));
    assert!(md.contains("\\<script\\>"));
    // In CSV, a cell starting with = + @ would run as a spreadsheet formula.
    let mut json = fixture();
    json["environment"]["host"] = "=1+1,x".into();
    let file = write(dir.path(), "formula.json", &json);
    let (_, csv, _) = report(&[file.to_str().unwrap(), "--format", "csv"]);
    assert!(
        csv.lines().nth(1).unwrap().starts_with("\"'=1+1,x\","),
        "{csv}"
    );
}

#[test]
fn markdown_and_csv_list_every_measured_case() {
    let json = fixture();
    let measured = json["cases"].as_array().unwrap().len();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a.json", &json);
    let (code, md, _) = report(&[file.to_str().unwrap(), "--format", "md"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        md.lines().filter(|l| l.starts_with("| vm |")).count(),
        measured
    );
    assert!(md.contains("(fastest)"));
    let (code, csv, _) = report(&[dir.path().to_str().unwrap(), "--format", "csv"]);
    assert_eq!(code, Some(0));
    assert_eq!(csv.lines().count(), measured + 1);
}

#[test]
fn unusable_input_exits_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let not_ours = dir.path().join("other.json");
    std::fs::write(&not_ours, "{\"hello\": 1}").unwrap();
    let truncated = dir.path().join("truncated.json");
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE)).unwrap();
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let empty = tempfile::tempdir().unwrap();
    for (args, message) in [
        (
            vec![not_ours.to_str().unwrap()],
            "not a ditbench results file",
        ),
        (vec![truncated.to_str().unwrap()], "not valid JSON"),
        (vec!["/nonexistent/results.json"], "cannot read"),
        (
            vec![empty.path().to_str().unwrap()],
            "holds no results files",
        ),
    ] {
        let (code, _, stderr) = report(&args);
        assert_eq!(code, Some(2), "{args:?}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn run_with_report_writes_the_page_next_to_its_results() {
    let dir = tempfile::tempdir().unwrap();
    let out = ditbench()
        .args([
            "run",
            "--presets",
            "llama-tiny",
            "--backends",
            "candle",
            "--passes",
            "forward",
            "--budget",
            "0.2",
            "--min-time",
            "0.05",
            "--min-iters",
            "3",
            "--report",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let results = common::result_files(dir.path());
    assert_eq!(results.len(), 1);
    let html = std::fs::read_to_string(results[0].with_extension("html")).unwrap();
    assert!(html.contains("llama-tiny · forward · f32"));
    assert!(String::from_utf8(out.stdout).unwrap().contains("Report: "));
}
