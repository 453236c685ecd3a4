//! `ditbench report`: HTML, Markdown and CSV from committed results files
//! (a real tiny run on a 2-core VM), plus variants made in the test: a
//! second machine, a failed and a skipped case, a parity failure, and
//! hostile strings.

mod common;

use std::path::{Path, PathBuf};

use common::ditbench;
use serde_json::Value;

const FIXTURE: &str = "tests/fixtures/cpu-vm-tiny.json";
/// A real run sweeping wan-tiny's frames (1, 5, 9, 17) and llama-tiny's
/// sequence length (16, 32, 64) with Candle and Burn-Flex.
const SWEEP_FIXTURE: &str = "tests/fixtures/cpu-vm-sweep.json";

fn load(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn fixture() -> Value {
    load(FIXTURE)
}

/// The HTML between `<h2 id="{id}">` and the next `<h2`.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<h2 id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no section {id}"));
    let rest = &html[start + 4..];
    &rest[..rest.find("<h2").unwrap_or(rest.len())]
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

/// Check that `html` nests its elements properly: every opened element is
/// closed in order (void elements and self-closed SVG elements aside), and
/// script and style bodies are skipped as raw text. Panics with the place.
fn assert_well_formed(html: &str) {
    const VOID: [&str; 6] = ["meta", "br", "img", "input", "hr", "link"];
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = &comment[comment.find("-->").expect("unclosed comment") + 3..];
            continue;
        }
        let end = rest.find('>').expect("unclosed tag");
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim().to_lowercase();
            let top = open
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(
                top,
                name,
                "</{name}> closes <{top}>, before: {}",
                &rest[..rest.len().min(80)]
            );
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
            .to_lowercase();
        assert!(!name.is_empty(), "bad tag <{tag}>");
        if tag.ends_with('/') || VOID.contains(&name.as_str()) {
            continue;
        }
        if name == "script" || name == "style" {
            let close = format!("</{name}>");
            rest = &rest[rest
                .find(&close)
                .unwrap_or_else(|| panic!("unclosed <{name}>"))..];
        }
        open.push(name);
    }
    assert!(open.is_empty(), "never closed: {open:?}");
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
        "(0.50x)",
        "<td class=\"num missing\">missing</td>",
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
    assert_well_formed(&html);
    // Every comparison has its chart, drawn inline.
    assert!(html.matches("<svg").count() >= 4);
    // Self-contained: one inline script (sortable tables), allowed by its
    // hash and by nothing else; no external resources.
    let lower = html.to_lowercase();
    assert_eq!(lower.matches("<script").count(), 1);
    let script = &html[html.find("<script>").unwrap() + 8..html.find("</script>").unwrap()];
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {}\"",
        ditbench_harness::read::report::script_hash_source(script)
    );
    assert!(
        html.contains(&csp),
        "the CSP does not allow exactly the page's script"
    );
    for forbidden in ["<link", "src=", "url(", "@import", "<iframe", "<object"] {
        assert!(!lower.contains(forbidden), "found {forbidden}");
    }
    assert_eq!(
        lower.matches("://").count(),
        lower.matches("http://www.w3.org/2000/svg").count(),
        "only SVG namespaces may name a URL"
    );
    // The answers come first.
    assert!(html.contains("is the fastest framework in"));
    assert!(html.contains("gpu-box cpu runs at 0.50x the speed of vm cpu"));
    // Never replaces a file.
    let before = std::fs::read(&out).unwrap();
    let (code, _, stderr) = report(&[a.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

#[test]
fn the_well_formedness_check_catches_misnesting() {
    assert_well_formed("<p>a<br><svg><rect/></svg><script>if (a<b) {}</script></p>");
    for bad in ["<p><b>x</p></b>", "<div>", "</p>", "<p>x<!-- y"] {
        let caught = std::panic::catch_unwind(|| assert_well_formed(bad)).is_err();
        assert!(caught, "{bad} passed");
    }
}

#[test]
fn baseline_machine_can_be_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", &fixture());
    let b = write(dir.path(), "b.json", &second_machine("gpu-box"));
    let files = [a.to_str().unwrap(), b.to_str().unwrap()];
    let (code, html, stderr) = report(&[files[0], files[1], "--baseline", "gpu-box"]);
    assert_eq!(code, Some(0), "{stderr}");
    let hardware = section(&html, "hardware");
    // The baseline is the first column, and the other machine is 2x as fast.
    let baseline = hardware.find("gpu-box cpu (baseline)").unwrap();
    assert!(baseline < hardware.find(">vm cpu<").unwrap());
    assert!(hardware.contains("(2.00x)"));
    assert!(!hardware.contains("(0.50x)"));
    assert!(html.contains("vm cpu runs at 2.00x the speed of gpu-box cpu"));
    // A machine and device works too; a name that matches nothing is an error.
    let (code, _, stderr) = report(&[files[0], files[1], "--baseline", "vm cpu"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = report(&[files[0], files[1], "--baseline", "nowhere"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("\"nowhere\" names no machine or device") && stderr.contains("vm cpu"),
        "{stderr}"
    );
}

#[test]
fn scaling_section_shows_sweeps_on_log_log_axes() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = write(dir.path(), "sweep.json", &load(SWEEP_FIXTURE));
    let (code, html, stderr) = report(&[sweep.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_well_formed(&html);
    let scaling = section(&html, "scaling");
    // Time and memory charts (each for wide screens and phones), with the
    // 1x and 2x guides.
    assert_eq!(scaling.matches("<svg").count(), 2 * 2);
    assert!(scaling.contains("∝ tokens²"));
    // One series per model, backend and pass: 2 models x 2 backends x 2 passes.
    for series in [
        "wan-tiny · candle cpu · f32 · forward",
        "wan-tiny · burn-flex cpu · f32 · train",
        "llama-tiny · candle cpu · f32 · train",
    ] {
        assert!(scaling.contains(series), "missing series {series}");
    }
    assert_eq!(scaling.matches("rowspan=\"4\">wan-tiny").count(), 4);
    assert_eq!(scaling.matches("rowspan=\"3\">llama-tiny").count(), 4);
    // The real-scale table: a 5 s 720p clip is mostly attention.
    assert!(scaling.contains("wan2.1-14b-720p by frames"));
    assert!(scaling.contains("<td class=\"num\">75600</td>"));
    // Data without a sweep has no scaling section.
    let plain = write(dir.path(), "plain.json", &fixture());
    let (_, html, _) = report(&[plain.to_str().unwrap()]);
    assert!(!html.contains("<h2 id=\"scaling\">"));
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
    assert_well_formed(&html);
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
    // The fixture's quick cases (12 samples at most, two of them one) are
    // mostly of low confidence: where a median is in doubt no fastest is
    // named, and the page says so.
    assert!(
        md.contains("- llama-tiny · forward · f32: not sure: "),
        "{md}"
    );
    assert!(md.contains("| low: "), "{md}");
    // How many samples each figure rests on and why timing stopped.
    assert!(
        md.contains("| n (stop) |")
            && md.contains(" | 12 (max_iters) | ")
            && md.contains(" | 1 (budget) | "),
        "{md}"
    );
    let fastest_rows = md.lines().filter(|l| l.contains("(fastest)")).count();
    let named = md.lines().filter(|l| l.contains(" is fastest (")).count();
    assert_eq!(fastest_rows, named, "{md}");
    // Recorded as good, the groups whose CIs lie apart name their fastest.
    let mut good = fixture();
    for c in good["cases"].as_array_mut().unwrap() {
        c["confidence"] = serde_json::json!({"level": "good", "reasons": []});
    }
    let good = write(dir.path(), "good.json", &good);
    let (_, md, _) = report(&[good.to_str().unwrap(), "--format", "md"]);
    assert!(
        md.contains("(fastest)") && md.contains("is fastest (its 95% CI lies below every other's)"),
        "{md}"
    );
    std::fs::remove_file(&good).unwrap();
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

#[test]
fn history_marks_the_step_in_a_nightly_series() {
    // Five nights of the same real run; from the fourth, Candle is 30% slower.
    let dir = tempfile::tempdir().unwrap();
    let nights = dir.path().join("nightly");
    std::fs::create_dir(&nights).unwrap();
    for (night, factor) in [1.0, 1.0, 1.0, 1.3, 1.3].into_iter().enumerate() {
        let mut json = load(SWEEP_FIXTURE);
        json["started_at"] = format!("2026-11-0{}T02:00:00+00:00", night + 1).into();
        for c in json["cases"].as_array_mut().unwrap() {
            if c["backend"] == "candle" {
                for s in c["samples_s"].as_array_mut().unwrap() {
                    *s = (s.as_f64().unwrap() * factor).into();
                }
                let m = c["stats"]["median_s"].as_f64().unwrap();
                c["stats"]["median_s"] = (m * factor).into();
            }
        }
        write(&nights, &format!("night-{night}.json"), &json);
    }
    let (code, html, stderr) = report(&[nights.to_str().unwrap(), "--history"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_well_formed(&html);
    let history = section(&html, "history");
    // Every case has its trend; only Candle cases slower by more than the
    // 1 ms floor step, all on the fourth night, and nothing else does.
    // (each chart drawn twice: for wide screens and for phones)
    assert_eq!(history.matches("<svg").count(), 2 * 28);
    let steps = history
        .matches("<li>2026-11-04T02:00:00+00:00: <span class=\"fail\">regression</span>")
        .count();
    assert!(steps >= 1, "{history}");
    assert_eq!(history.matches("<li>").count(), steps);
    assert!(html.contains(&format!(
        "History of 28 cases over 5 runs: {steps} change points, {steps} of them regressions."
    )));
    // The other sections show the latest night only: 28 rows, not 140.
    let raw = section(&html, "raw");
    assert_eq!(raw.matches("<tr><td>vm</td>").count(), 28);
}

#[test]
fn threads_and_build_features_show_per_case_and_per_framework() {
    let mut json = fixture();
    json["environment"]["cpu_simd"] = serde_json::json!(["avx2", "avx512f"]);
    json["environment"]["frameworks"][0]["build_features"] =
        serde_json::json!(["rayon threads (ops and gemm): on"]);
    let cases = json["cases"].as_array_mut().unwrap();
    cases[0]["threads"] = serde_json::json!({
        "requested": 2,
        "pools": [{"name": "rayon global pool", "threads": 2, "asked": 2}],
        "busy": 2,
        "cpu_parallelism": 1.934
    });
    let backend = cases[0]["backend"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a.json", &json);
    let (code, html, stderr) = report(&[file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let raw = section(&html, "raw");
    assert!(raw.contains("2 threads (busy 2, CPU 1.93x)"), "{raw}");
    assert!(raw.contains("avx2, avx512f"));
    assert!(raw.contains(&format!("{backend} build")));
    assert!(raw.contains("rayon threads (ops and gemm): on"));
    let (code, csv, _) = report(&[file.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(code, Some(0));
    let header = csv.lines().next().unwrap();
    assert!(header.ends_with(
        ",threads_requested,threads_busy,cpu_parallelism,samples,stop_reason,confidence,contended,confidence_reasons"
    ));
    assert!(csv.lines().nth(1).unwrap().contains(",2,2,1.934,"), "{csv}");
}

#[test]
fn sweeps_read_in_numeric_order_video_first_and_times_to_the_second() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "sweep.json",
        &load("tests/fixtures/cpu-vm-sweep.json"),
    );
    let (code, md, stderr) = report(&[file.to_str().unwrap(), "--format", "md"]);
    assert_eq!(code, Some(0), "{stderr}");
    let at = |needle: &str| {
        md.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing:\n{md}"))
    };
    // In the fastest list: frames=1 < 5 < 9 < 17 (not as text), video DiTs before LLMs.
    let order = [
        "- wan-tiny\\[frames=1\\] ·",
        "- wan-tiny\\[frames=5\\] ·",
        "- wan-tiny\\[frames=9\\] ·",
        "- wan-tiny\\[frames=17\\] ·",
        "- llama-tiny\\[seq-len=16\\] ·",
        "- llama-tiny\\[seq-len=64\\] ·",
    ];
    for pair in order.windows(2) {
        assert!(
            at(pair[0]) < at(pair[1]),
            "{} after {}:\n{md}",
            pair[0],
            pair[1]
        );
    }
    let (_, html, _) = report(&[file.to_str().unwrap()]);
    let generated = html.split("· generated ").nth(1).unwrap();
    let time = generated.split(' ').next().unwrap();
    // 2026-12-01T20:53:34+00:00: no fraction of a second.
    assert!(!time.contains('.') && time.len() <= 25, "{time}");
}

#[test]
fn claims_carry_verdicts_in_html_and_markdown_and_follow_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", &fixture());
    let out = dir.path().join("report.html");
    let (code, _, stderr) = report(&[a.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let html = std::fs::read_to_string(&out).unwrap();
    assert_well_formed(&html);
    // The claims come right after the headlines, before the tables.
    let claims = html.find("<h2 id=\"claims\">").expect("a claims section");
    assert!(claims < html.find("<h2 id=\"summary\">").unwrap());
    for id in ["C1", "C2", "C3"] {
        let at = html
            .find(&format!("id=\"claim-{id}\""))
            .unwrap_or_else(|| panic!("no {id}"));
        let verdict = &html[at..][..html[at..].find("</p>").unwrap()];
        assert!(
            verdict.contains("Verdict: Holds") || verdict.contains("Verdict: Does not hold"),
            "{verdict}"
        );
    }
    assert!(html.contains("sora-3b-guess-720p (hypothetical)"));
    // No real case ran here: the buyer's view says how to get one.
    assert!(html.contains("no real-scale case ran here"));

    let (code, md, _) = report(&[a.to_str().unwrap(), "--format", "md"]);
    assert_eq!(code, Some(0));
    assert!(md.contains("## Claims"), "{md}");
    assert_eq!(md.matches("**Verdict:**").count(), 3, "{md}");
    // The headlines state each claim's answer.
    assert!(
        md.contains("> C1 \"A video DiT of about 3B parameters"),
        "{md}"
    );
    // Per video is steps x CFG passes forwards: with one of each, a video
    // costs what a step does.
    let per = |md: &str, unit: &str| -> String {
        let start = md.find("**sora-3b-guess-720p (hypothetical)**").unwrap();
        let line = md[start..]
            .lines()
            .find(|l| l.starts_with(&format!("| {unit} |")))
            .unwrap()
            .to_string();
        line.rsplit('|').nth(1).unwrap().trim().to_string()
    };
    assert_ne!(per(&md, "video"), per(&md, "denoising step"));
    let (_, one, _) = report(&[
        a.to_str().unwrap(),
        "--format",
        "md",
        "--steps",
        "1",
        "--cfg-passes",
        "1",
    ]);
    assert_eq!(per(&one, "video"), per(&one, "denoising step"));
    // A longer request costs more FLOPs: the ratio per video falls. (One
    // longer than Llama-2-70B's 4,096-token context is refused: hardening.)
    let (_, long, _) = report(&[
        a.to_str().unwrap(),
        "--format",
        "md",
        "--llm-prompt",
        "3000",
    ]);
    let (_, short, _) = report(&[a.to_str().unwrap(), "--format", "md", "--llm-prompt", "100"]);
    assert_ne!(per(&long, "video"), per(&short, "video"));

    for (flag, value) in [
        ("--price-per-hour", "-1"),
        ("--price-per-hour", "nan"),
        ("--price-per-hour", "inf"),
        ("--llm-prompt", "0"),
    ] {
        let (code, _, stderr) = report(&[a.to_str().unwrap(), &format!("{flag}={value}")]);
        assert_eq!(code, Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn the_buyers_view_prices_a_real_clip_and_says_what_fits() {
    let real =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("results/examples/cpu-2core-vm-real-scale.json");
    let (code, md, stderr) = report(&[real.to_str().unwrap(), "--format", "md"]);
    assert_eq!(code, Some(0), "{stderr}");
    let start = md
        .find("## What a clip, an image and 1M LLM tokens cost")
        .expect("a buyer's view");
    let row = md[start..]
        .lines()
        .find(|l| l.starts_with("| vm · cpu"))
        .unwrap();
    // The run's own price ($0.096 an hour), the fastest backend, labelled.
    assert!(
        row.contains("wan2.1-1.3b-480p: ") && row.contains(" extrapolated, $"),
        "{row}"
    );
    assert!(row.contains("(tch f32)"), "{row}");
    assert!(row.contains("llama-2-70b: "), "{row}");
    // 23.5 GiB: the 1.3B model's forward fits, the 70B one does not.
    let cells: Vec<&str> = row.split(" | ").collect();
    let fits_forward = cells[cells.len() - 2];
    assert!(fits_forward.contains("wan2.1-1.3b-480p"), "{row}");
    assert!(!fits_forward.contains("llama-2-70b"), "{row}");
    // The report's price fills in for runs that recorded none, and says so.
    let dir = tempfile::tempdir().unwrap();
    let mut unpriced: Value =
        serde_json::from_str(&std::fs::read_to_string(&real).unwrap()).unwrap();
    for c in unpriced["cases"].as_array_mut().unwrap() {
        if let Some(full) = c.get_mut("full_model").filter(|f| !f.is_null()) {
            full["cost"] = Value::Null;
        }
    }
    let unpriced = write(dir.path(), "unpriced.json", &unpriced);
    let out = dir.path().join("r.html");
    let (code, _, stderr) = report(&[
        unpriced.to_str().unwrap(),
        "--price-per-hour",
        "3.6",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let html = std::fs::read_to_string(&out).unwrap();
    let buyer = section(&html, "buyer");
    assert!(buyer.contains("$ at report --price-per-hour"), "{buyer}");
}
