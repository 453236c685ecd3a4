//! Property test of everything that reads results files: arbitrary bytes and
//! thousands of mutations of real files (truncated, bytes flipped, values
//! replaced by other types, extreme numbers, hostile strings, fields
//! removed) never make loading panic, and whatever loads renders as HTML,
//! Markdown and CSV, compares and exports without panicking. Seeded, so a
//! failure names an input that reproduces.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use ditbench_harness::read::compare::{Thresholds, compare, render_markdown as compare_markdown};
use ditbench_harness::read::export::{bencher_metric_format, github_action_benchmark};
use ditbench_harness::read::report::{
    Report, ReportOptions, load_runs, render_csv, render_html, render_markdown,
};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::Value;

const FIXTURES: [&str; 2] = ["cpu-vm-tiny.json", "cpu-vm-sweep.json"];

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    (rng.next_u64() % n.max(1) as u64) as usize
}

/// Values that have broken readers elsewhere: wrong types, empty
/// containers, zero, negative and extreme numbers, markup and control text.
fn replacement(rng: &mut ChaCha8Rng) -> Value {
    let options = [
        Value::Null,
        Value::Bool(true),
        0.into(),
        (-1).into(),
        1e308.into(),
        (-1e-308).into(),
        u64::MAX.into(),
        i64::MIN.into(),
        "".into(),
        "<script>alert(1)</script>\"'&</svg>".into(),
        "\u{0}\u{1b}[31m\u{202e}ünïcödé 🎥".into(),
        "9".repeat(400).into(),
        Value::Array(Vec::new()),
        Value::Array(vec![0.into(); 3]),
        serde_json::json!({}),
        serde_json::json!({"a": [1, {"b": null}]}),
    ];
    options[below(rng, options.len())].clone()
}

/// Every path to a node, depth-first.
fn paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                prefix.push(k.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                prefix.push(i.to_string());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |node, key| match node {
        Value::Object(map) => map.get_mut(key).unwrap(),
        Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
        _ => unreachable!("paths lead through containers"),
    })
}

/// A structural mutation of a valid document, and what it did.
fn mutate_value(doc: &Value, rng: &mut ChaCha8Rng) -> (String, String) {
    let mut v = doc.clone();
    let mut all = Vec::new();
    paths(&v, &mut Vec::new(), &mut all);
    let mut did = Vec::new();
    // A few edits at once, so combinations are reached too.
    for _ in 0..1 + below(rng, 3) {
        let path = &all[below(rng, all.len())];
        let (parent_path, last) = match path.split_last() {
            Some((last, parent)) => (parent, Some(last)),
            None => (&path[..], None),
        };
        match (below(rng, 4), last) {
            // Remove a field or an element.
            (0, Some(key)) => match node_mut(&mut v, parent_path) {
                Value::Object(map) => {
                    map.remove(key);
                    did.push(format!("removed {}", path.join(".")));
                }
                Value::Array(items) => {
                    let i: usize = key.parse().unwrap();
                    if i < items.len() {
                        items.remove(i);
                        did.push(format!("removed {}", path.join(".")));
                    }
                }
                _ => {}
            },
            // Duplicate an element of an array (e.g. a case twice).
            (1, Some(key)) => {
                if let Value::Array(items) = node_mut(&mut v, parent_path)
                    && let Ok(i) = key.parse::<usize>()
                    && i < items.len()
                {
                    items.push(items[i].clone());
                    did.push(format!("duplicated {}", path.join(".")));
                }
            }
            _ => {
                // Paths may have gone stale after a removal: only replace nodes that still exist.
                let exists = path.iter().try_fold(&v, |node, key| match node {
                    Value::Object(map) => map.get(key),
                    Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
                    _ => None,
                });
                if exists.is_some() {
                    let new = replacement(rng);
                    did.push(format!(
                        "{} = {}",
                        path.join("."),
                        truncate(&new.to_string())
                    ));
                    *node_mut(&mut v, path) = new;
                }
            }
        }
    }
    (v.to_string(), did.join("; "))
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

/// A byte-level mutation of a valid document.
fn mutate_bytes(text: &str, rng: &mut ChaCha8Rng) -> (Vec<u8>, String) {
    let mut bytes = text.as_bytes().to_vec();
    let at = below(rng, bytes.len());
    let what = match below(rng, 4) {
        0 => {
            bytes.truncate(at);
            format!("truncated at byte {at}")
        }
        1 => {
            bytes[at] = (rng.next_u32() & 0xff) as u8;
            format!("byte {at} replaced")
        }
        2 => {
            let end = (at + 1 + below(rng, 64)).min(bytes.len());
            bytes.drain(at..end);
            format!("bytes {at}..{end} deleted")
        }
        _ => {
            let junk: Vec<u8> = (0..1 + below(rng, 16))
                .map(|_| (rng.next_u32() & 0xff) as u8)
                .collect();
            bytes.splice(at..at, junk);
            format!("junk inserted at byte {at}")
        }
    };
    (bytes, what)
}

/// Load `bytes` as a results file and, if it loads, use it every way a
/// user can. Panics name the input, kept under `keep` for reproducing.
fn exercise(bytes: &[u8], what: &str, dir: &Path, keep: &mut usize) -> bool {
    let path = dir.join("input.json");
    std::fs::write(&path, bytes).unwrap();
    let outcome = catch_unwind(AssertUnwindSafe(|| use_file(&path)));
    let Ok(loaded) = outcome else {
        *keep += 1;
        let kept: PathBuf = std::env::temp_dir().join(format!("ditbench-panic-{keep}.json"));
        std::fs::write(&kept, bytes).unwrap();
        panic!(
            "reading a mutated results file panicked ({what}); input kept in {}",
            kept.display()
        );
    };
    loaded
}

/// Whether the file loaded (and so reached every reader).
fn use_file(path: &Path) -> bool {
    let Ok(runs) = load_runs(&[path.to_path_buf()]) else {
        return false;
    };
    for history in [false, true] {
        let options = ReportOptions {
            history,
            ..ReportOptions::default()
        };
        if let Ok(report) = Report::build(&runs, &options, "2026-11-25T00:00:00+00:00") {
            let _ = render_html(&report);
            let _ = render_markdown(&report);
            let _ = render_csv(&report);
        }
    }
    let results: Vec<_> = runs.into_iter().map(|r| r.results).collect();
    let comparison = compare(&results, &results, None, &Thresholds::default());
    let _ = compare_markdown(&comparison);
    let _ = serde_json::to_string(&comparison);
    let _ = bencher_metric_format(&results);
    let _ = github_action_benchmark(&results);
    true
}

#[test]
fn arbitrary_bytes_never_panic_the_loader() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut kept = 0;
    for i in 0..300 {
        let len = below(&mut rng, 2048);
        let bytes: Vec<u8> = (0..len).map(|_| (rng.next_u32() & 0xff) as u8).collect();
        assert!(!exercise(
            &bytes,
            &format!("random bytes #{i}"),
            dir.path(),
            &mut kept
        ));
    }
    for text in [
        "",
        "{}",
        "[]",
        "null",
        "{\"schema_version\": 1}",
        "{\"schema_version\": \"1\"}",
    ] {
        assert!(!exercise(text.as_bytes(), text, dir.path(), &mut kept));
    }
}

#[test]
fn mutated_results_files_never_panic_any_reader() {
    let dir = tempfile::tempdir().unwrap();
    let mut kept = 0;
    for (f, name) in FIXTURES.iter().enumerate() {
        let text = fixture(name);
        let doc: Value = serde_json::from_str(&text).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(f as u64);
        assert!(exercise(
            text.as_bytes(),
            "unmutated",
            dir.path(),
            &mut kept
        ));
        let mut loaded = 0;
        for i in 0..250 {
            let (bytes, what) = mutate_bytes(&text, &mut rng);
            loaded += usize::from(exercise(
                &bytes,
                &format!("{name} #{i}: {what}"),
                dir.path(),
                &mut kept,
            ));
        }
        for i in 0..400 {
            let (mutated, what) = mutate_value(&doc, &mut rng);
            loaded += usize::from(exercise(
                mutated.as_bytes(),
                &format!("{name} #{i}: {what}"),
                dir.path(),
                &mut kept,
            ));
        }
        eprintln!("{name}: {loaded} of 650 mutated files loaded");
        // Enough of them load to exercise the readers, not only the loader.
        assert!(loaded >= 50, "{name}: only {loaded} mutated files loaded");
    }
}
