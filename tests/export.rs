//! `ditbench export`: files in the formats of Bencher and
//! github-action-benchmark, and CSV, from a committed real run.

mod common;

use std::path::Path;

use common::ditbench;
use serde_json::{Value, json};

const FIXTURE: &str = "tests/fixtures/cpu-vm-sweep.json";

fn fixture_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE)
}

fn export(args: &[&str]) -> (Option<i32>, String, String) {
    let out = ditbench().arg("export").args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn bencher_metric_format_follows_its_schema() {
    // The structure Bencher documents for BMF: benchmark name -> measure ->
    // metric with a required numeric value and optional bounds.
    let schema = json!({
        "type": "object",
        "minProperties": 1,
        "additionalProperties": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "value": {"type": "number"},
                    "lower_value": {"type": "number"},
                    "upper_value": {"type": "number"}
                },
                "required": ["value"],
                "additionalProperties": false
            }
        }
    });
    let (code, stdout, stderr) = export(&[fixture_path().to_str().unwrap(), "--format", "bmf"]);
    assert_eq!(code, Some(0), "{stderr}");
    let bmf: Value = serde_json::from_str(&stdout).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&bmf).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_path()).unwrap()).unwrap();
    let first = &cases["cases"][0];
    let name = format!(
        "{} {} {} {} {}",
        first["workload"]["label"].as_str().unwrap(),
        first["backend"].as_str().unwrap(),
        first["device"].as_str().unwrap(),
        first["dtype"].as_str().unwrap(),
        first["pass"].as_str().unwrap()
    );
    let latency = &bmf[&name]["latency"];
    let median_ns = first["stats"]["median_s"].as_f64().unwrap() * 1e9;
    assert!((latency["value"].as_f64().unwrap() - median_ns).abs() < 1e-6 * median_ns);
    assert!(latency["lower_value"].as_f64().unwrap() <= latency["value"].as_f64().unwrap());
    assert!(bmf[&name]["throughput"]["value"].as_f64().unwrap() > 0.0);
    assert!(bmf[&name]["peak-rss"]["value"].as_f64().unwrap() > 1e6);
    assert_eq!(
        bmf.as_object().unwrap().len(),
        cases["cases"].as_array().unwrap().len()
    );
}

#[test]
fn exports_carry_the_contended_flag_and_the_confidence() {
    let mut json: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_path()).unwrap()).unwrap();
    json["cases"][0]["interference"] = json!({
        "cpu": null,
        "contended": true,
        "reasons": ["others took 1.90 of the 2 CPU(s) asked for (95%; other processes 1.90, steal 0.00)"],
        "unavailable": []
    });
    json["cases"][1]["interference"] =
        json!({"cpu": null, "contended": false, "reasons": [], "unavailable": []});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.json");
    std::fs::write(&path, json.to_string()).unwrap();
    let (code, stdout, stderr) = export(&[path.to_str().unwrap(), "--format", "bmf"]);
    assert_eq!(code, Some(0), "{stderr}");
    let bmf: Value = serde_json::from_str(&stdout).unwrap();
    let name = |i: usize| json["cases"][i]["id"].as_str().unwrap().to_string();
    assert_eq!(bmf[name(0)]["contended"]["value"], 1.0);
    assert_eq!(bmf[name(1)]["contended"]["value"], 0.0);
    // Not recorded (files written before it): no measure rather than a guess.
    assert!(bmf[name(2)].get("contended").is_none());
    let (_, stdout, _) = export(&[
        path.to_str().unwrap(),
        "--format",
        "github-action-benchmark",
    ]);
    let entries: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let extra = |i: usize| {
        entries
            .iter()
            .find(|e| e["name"] == format!("{} time", name(i)).as_str())
            .unwrap()["extra"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        extra(0).contains("; CONTENDED; confidence low: contended: others took 1.90"),
        "{}",
        extra(0)
    );
}

#[test]
fn github_action_benchmark_gets_time_and_memory_entries() {
    let (code, stdout, stderr) = export(&[
        fixture_path().to_str().unwrap(),
        "--format",
        "github-action-benchmark",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let entries: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(entries.len(), 2 * 28);
    for e in &entries {
        assert!(
            e["name"].is_string() && e["unit"].is_string() && e["value"].is_number(),
            "{e}"
        );
    }
    assert!(
        entries
            .iter()
            .any(|e| e["unit"] == "ms" && e["range"].as_str().unwrap().starts_with("± "))
    );
    assert!(entries.iter().any(|e| e["unit"] == "MiB"));
}

#[test]
fn csv_and_output_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cases.csv");
    let (code, _, stderr) = export(&[
        fixture_path().to_str().unwrap(),
        "--format",
        "csv",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let csv = std::fs::read_to_string(&out).unwrap();
    assert_eq!(csv.lines().count(), 1 + 28);
    assert!(csv.starts_with("host,workload,backend"));
    // Never replaced; unreadable input is a usage error.
    let (code, _, stderr) = export(&[
        fixture_path().to_str().unwrap(),
        "--format",
        "csv",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), csv);
    let (code, _, stderr) = export(&["/nonexistent.json", "--format", "bmf"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("cannot read"), "{stderr}");
}

#[test]
fn unusable_input_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture_path()).unwrap();
    let files = [
        (
            "foreign.json",
            "{\"hello\": 1}".to_string(),
            "not a ditbench results file",
        ),
        (
            "truncated.json",
            text[..text.len() / 3].to_string(),
            "not valid JSON",
        ),
        (
            "v999.json",
            text.replacen("\"schema_version\": 1", "\"schema_version\": 999", 1),
            "schema version 999",
        ),
        (
            "garbage.json",
            "\u{0}\u{1}binary".to_string(),
            "not valid JSON",
        ),
    ];
    for (name, contents, message) in files {
        let input = dir.path().join(name);
        std::fs::write(&input, contents).unwrap();
        let output = dir.path().join(format!("{name}.out"));
        let (code, stdout, stderr) = export(&[
            input.to_str().unwrap(),
            "--format",
            "bmf",
            "-o",
            output.to_str().unwrap(),
        ]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains(message), "{name}: {stderr}");
        assert!(stdout.is_empty() && !output.exists(), "{name} wrote output");
    }
}
