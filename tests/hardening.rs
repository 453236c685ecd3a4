//! Hostile input from the command line and from files: each refused with
//! exit 2 and one clear line, never a panic, a hang or a partial file.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{TINY_FORWARD, ditbench, fails_with};
use serde_json::Value;

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cpu-vm-tiny.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn write(dir: &Path, name: &str, json: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

/// Exit code and stderr of `ditbench args`, killed after `limit`.
fn within(limit: Duration, args: &[&str]) -> (Option<i32>, String, String) {
    let start = Instant::now();
    let out = ditbench().args(args).timeout(limit).output().unwrap();
    assert!(start.elapsed() < limit, "{args:?} ran past {limit:?}");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run"];
    args.extend(TINY_FORWARD);
    args.extend(extra);
    args
}

#[test]
fn absurd_run_options_exit_2_with_a_message() {
    for (extra, message) in [
        (
            &["--case-timeout", "1e20"][..],
            "--case-timeout 100000000000000000000 is too large",
        ),
        (
            &["--budget", "-1"],
            "--budget must be a positive, finite number",
        ),
        (
            &["--budget", "inf"],
            "--budget must be a positive, finite number",
        ),
        (
            &["--min-time", "inf"],
            "--min-time and --warmup-time must be finite",
        ),
        (
            &["--warmup-time", "nan"],
            "--min-time and --warmup-time must be finite",
        ),
        (
            &["--target-ci", "150"],
            "--target-ci must be a percentage above 0 and below 100",
        ),
        (
            &["--mem-limit", "99999999999999999999GiB"],
            "larger than 16 EiB",
        ),
        (
            &["--dim", "4611686018427387904", "--heads", "1"],
            "dim must be at most 1048576",
        ),
        (
            &["--batch", "18446744073709551615"],
            "batch must be at most 65536",
        ),
        (
            &["--layers", "1000000000"],
            "--layers 1000000000 is more than wan-tiny's 2 blocks",
        ),
        (
            &["--steps", "4294967295", "--cfg-passes", "4294967295"],
            "--steps must be 1 to 10000",
        ),
    ] {
        fails_with(&run_args(extra), message);
    }
}

#[test]
fn unwritable_output_directories_are_refused_up_front() {
    // /proc refuses new files even to root.
    fails_with(
        &run_args(&["--dump-outputs", "/proc/ditbench-dump"]),
        "--dump-outputs /proc/ditbench-dump: cannot write there",
    );
    let (code, _, stderr) = within(
        Duration::from_secs(60),
        &run_args(&["--out", "/proc/ditbench-out"]),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--out /proc/ditbench-out: cannot write there"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn the_budget_bounds_warm_up_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut args = run_args(&["--warmup", "1000000", "--budget", "1", "--out"]);
    args.push(out.to_str().unwrap());
    let (code, _, stderr) = within(Duration::from_secs(120), &args);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn report_refuses_what_is_not_a_results_file_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.json");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a plain libc call with a valid, NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for (input, message) in [
        ("/dev/zero", "/dev/zero is not a regular file"),
        (fifo.to_str().unwrap(), "is not a regular file"),
    ] {
        for args in [
            vec!["report", input],
            vec!["compare", input, input],
            vec!["export", "--format", "csv", input],
        ] {
            let (code, _, stderr) = within(Duration::from_secs(30), &args);
            assert_eq!(code, Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains(message), "{args:?}: {stderr}");
        }
        let (code, _, stderr) = within(Duration::from_secs(30), &["run", "--resume", input]);
        assert_eq!(code, Some(2), "--resume {input}: {stderr}");
        assert!(stderr.contains(message), "--resume {input}: {stderr}");
        fails_with(&run_args(&["--weights", input]), message);
    }
}

#[test]
fn report_draws_absurd_and_zero_figures_without_hanging_or_a_template_dump() {
    let dir = tempfile::tempdir().unwrap();
    let mut huge = fixture();
    let mut zero = fixture();
    for (json, value) in [(&mut huge, 1.7e308), (&mut zero, 0.0)] {
        for c in json["cases"].as_array_mut().unwrap() {
            if c["stats"].is_null() {
                continue;
            }
            c["stats"]["median_s"] = value.into();
            c["stats"]["ci95_median_s"] = serde_json::json!([value, value]);
            c["samples_s"] = serde_json::json!([value, value, value]);
            if value == 0.0 {
                // All-zero cost figures: shares and rates become 0/0.
                for k in [
                    "forward_flops",
                    "self_attention_flops",
                    "cross_attention_flops",
                ] {
                    c["workload"]["cost"][k] = 0.0.into();
                }
            }
        }
    }
    for (name, json) in [("huge.json", &huge), ("zero.json", &zero)] {
        let file = write(dir.path(), name, json);
        for format in ["html", "md", "csv"] {
            let (code, out, stderr) = within(
                Duration::from_secs(60),
                &["report", file.to_str().unwrap(), "--format", format],
            );
            assert_eq!(code, Some(0), "{name} {format}: {stderr}");
            assert!(!out.is_empty());
            assert!(!stderr.contains("rendering the report"), "{stderr}");
        }
        let (code, _, stderr) = within(
            Duration::from_secs(60),
            &["export", file.to_str().unwrap(), "--format", "csv"],
        );
        assert_eq!(code, Some(0), "{name} export: {stderr}");
    }
    let huge = write(dir.path(), "huge2.json", &huge);
    let (_, html, _) = within(Duration::from_secs(60), &["report", huge.to_str().unwrap()]);
    assert!(html.contains("values out of range: not drawn"));
}

#[test]
fn report_writes_nowhere_it_cannot_and_counts_a_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a.json", &fixture());
    let missing = dir.path().join("missing/dir/x.html");
    let (code, _, stderr) = within(
        Duration::from_secs(30),
        &[
            "report",
            file.to_str().unwrap(),
            "-o",
            missing.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("the directory") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(!dir.path().join("missing").exists());
    // The same file twice (once through a link) is one run.
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let (code, md, stderr) = within(
        Duration::from_secs(30),
        &[
            "report",
            file.to_str().unwrap(),
            file.to_str().unwrap(),
            link.to_str().unwrap(),
            "--format",
            "md",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(md.matches("- **vm**:").count(), 1, "{md}");
}

#[test]
fn compare_shows_escape_sequences_from_files_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut base = fixture();
    // An OSC 52 clipboard write and a colour change hidden in names.
    let hostile = "evil\u{1b}]52;c;aGVsbG8=\u{7}\u{1b}[31m";
    base["environment"]["host"] = hostile.into();
    base["cases"][0]["id"] = format!("{hostile} case").into();
    let mut cand = base.clone();
    cand["environment"]["cpu_model"] = format!("cpu {hostile}").into();
    let a = write(dir.path(), "a.json", &base);
    let b = write(dir.path(), "b.json", &cand);
    let out = ditbench()
        .args(["compare", a.to_str().unwrap(), b.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains('\u{7}'), "{stdout}");
    assert!(!stdout.contains("\u{1b}]52"), "{stdout}");
    assert!(stdout.contains("\\x1b]52"), "{stdout}");
}
