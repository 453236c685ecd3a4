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

/// A named edit of a results document, and what its refusal says.
type Edit<'a> = (&'a str, Box<dyn Fn(&mut Value) + 'a>, &'a str);

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
            // Zero times are refused on load (below); zero costs are drawn.
            if value > 0.0 {
                c["stats"]["median_s"] = value.into();
                c["stats"]["ci95_median_s"] = serde_json::json!([value, value]);
                c["samples_s"] = serde_json::json!([value, value, value]);
            }
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
    // A symbolic link to nothing is there too: refused, and left a link.
    let dangling = dir.path().join("dangling.html");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
    let (code, _, stderr) = within(
        Duration::from_secs(30),
        &[
            "report",
            file.to_str().unwrap(),
            "-o",
            dangling.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("already exists; ditbench never replaces a symbolic link"),
        "{stderr}"
    );
    assert!(!dir.path().join("nowhere").exists());
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

/// A finished two-case run of wan-tiny on `backends` and `passes`, copied to
/// `dir/NAME` as if interrupted after its first case (a finished run has
/// removed its kept references: so has a file copied without them).
fn unfinished_copy(
    dir: &Path,
    name: &str,
    backends: &str,
    passes: &str,
    extra: &[&str],
) -> PathBuf {
    let out = dir.join("out");
    let mut args = vec![
        "run",
        "-p",
        "wan-tiny",
        "-b",
        backends,
        "--passes",
        passes,
        "--budget",
        "0.3",
        "--min-time",
        "0.05",
    ];
    args.extend(extra);
    args.extend(["--out", out.to_str().unwrap()]);
    let (code, _, stderr) = within(Duration::from_secs(300), &args);
    assert_eq!(code, Some(0), "{stderr}");
    let file = common::result_files(&out).pop().unwrap();
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    json["cases"].as_array_mut().unwrap().truncate(1);
    json["finished_at"] = Value::Null;
    let copy = dir.join(name);
    std::fs::write(&copy, json.to_string()).unwrap();
    copy
}

#[test]
fn resuming_without_the_kept_references_says_parity_is_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    let copy = unfinished_copy(
        dir.path(),
        "copied.json",
        "candle,burn-flex",
        "forward",
        &[],
    );
    let (code, _, stderr) = within(
        Duration::from_secs(300),
        &["run", "--resume", copy.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: the kept outputs of 1 parity reference(s) are missing"),
        "{stderr}"
    );
    assert!(stderr.contains("run without a parity check"), "{stderr}");
}

#[test]
fn a_resume_runs_the_files_own_plan_and_refuses_an_edited_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let original = unfinished_copy(
        dir.path(),
        "unfinished.json",
        "candle",
        "forward,train",
        &["--no-parity"],
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&original).unwrap()).unwrap();
    let command: Vec<String> = serde_json::from_value(json["command"].clone()).unwrap();
    let hostile = "evil\u{1b}]52;c;aGVsbG8=\u{7}\u{1b}c\u{9d}";
    // The recorded command line with `extra` options after it.
    let extended = |extra: [&str; 2]| {
        let edited: Vec<&str> = command.iter().map(String::as_str).chain(extra).collect();
        serde_json::json!(edited)
    };
    let edits: Vec<Edit> = vec![
        (
            "preset",
            Box::new(|j| {
                let edited: Vec<String> = command
                    .iter()
                    .map(|a| a.replace("wan-tiny", "llama-tiny"))
                    .collect();
                j["command"] = serde_json::json!(edited);
            }),
            "it records case 'wan-tiny candle cpu f32 forward', which the command line it records does not plan",
        ),
        (
            "shard",
            Box::new(|j| j["command"] = extended(["--shard", "1/1"])),
            "its settings.shard is not what the command line it records plans",
        ),
        (
            "seed",
            Box::new(|j| j["command"] = extended(["--seed", "7"])),
            "its settings.seed is not",
        ),
        (
            "hostile",
            Box::new(move |j| j["cases"][0]["id"] = format!("{hostile} case").into()),
            "it records case 'evil\\x1b]52;c;aGVsbG8=\\x07\\x1bc\\x9d case'",
        ),
    ];
    for (name, edit, message) in edits {
        let mut edited = json.clone();
        edit(&mut edited);
        let file = write(dir.path(), &format!("{name}.json"), &edited);
        let before = std::fs::read(&file).unwrap();
        let (code, stdout, stderr) = within(
            Duration::from_secs(60),
            &["run", "--resume", file.to_str().unwrap()],
        );
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains("does not plan its own run again"),
            "{name}: {stderr}"
        );
        assert!(stderr.contains(message), "{name}: {stderr}");
        let raw = |c: char| stdout.contains(c) || stderr.contains(c);
        assert!(
            !raw('\u{1b}') && !raw('\u{7}') && !raw('\u{9d}'),
            "{name}: {stderr}"
        );
        assert_eq!(
            std::fs::read(&file).unwrap(),
            before,
            "{name}: the file was written"
        );
    }
}

#[test]
fn text_from_files_never_reaches_a_terminal_or_a_report_raw() {
    let dir = tempfile::tempdir().unwrap();
    // An OSC 52 clipboard write, a terminal reset, a DCS request, C1 OSC.
    let hostile = "x\u{1b}]52;c;aGVsbG8=\u{7}\u{1b}c\u{1b}P$q\u{1b}\\\u{9d}0;t\u{7}\u{90}y";
    let mut json = fixture();
    json["environment"]["host"] = hostile.into();
    json["environment"]["cpu_model"] = hostile.into();
    for case in json["cases"].as_array_mut().unwrap() {
        case["notes"] = serde_json::json!([hostile]);
        case["workload"]["label"] =
            format!("{}{hostile}", case["workload"]["label"].as_str().unwrap()).into();
    }
    json["cases"][0]["id"] = format!("{hostile} case").into();
    let file = write(dir.path(), "hostile.json", &json);
    let f = file.to_str().unwrap();
    let html = dir.path().join("r.html");
    let outputs = [
        vec!["report", f, "--format", "csv"],
        vec!["report", f, "--format", "md"],
        vec!["export", f, "--format", "csv"],
        vec!["export", f, "--format", "bmf"],
        vec!["export", f, "--format", "github-action-benchmark"],
        vec!["compare", f, f, "--format", "md"],
        vec!["compare", f, f, "--format", "json"],
        vec!["compare", f, f],
        vec!["report", f, "-o", html.to_str().unwrap()],
    ];
    for args in outputs {
        let (code, stdout, stderr) = within(Duration::from_secs(60), &args);
        assert!(code == Some(0) || code == Some(3), "{args:?}: {stderr}");
        let text = match args.contains(&"-o") {
            true => std::fs::read_to_string(&html).unwrap(),
            false => stdout,
        };
        for raw in ['\u{1b}', '\u{7}', '\u{9d}', '\u{90}'] {
            assert!(!text.contains(raw), "{args:?} wrote {raw:?} raw");
            assert!(
                !stderr.contains(raw),
                "{args:?} wrote {raw:?} raw to stderr"
            );
        }
        // Shown, not dropped.
        assert!(
            text.contains("\\x1b") || text.contains("\\u001b"),
            "{args:?}: {text}"
        );
        if args.contains(&"json")
            || args.contains(&"bmf")
            || args.contains(&"github-action-benchmark")
        {
            let back: Value = serde_json::from_str(&text).unwrap();
            assert!(
                back.to_string().contains("x\\u001b]52"),
                "{args:?}: still the same JSON"
            );
        }
    }
}

#[test]
fn a_second_resume_of_the_same_file_is_refused_while_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    // The first resume is held in its first case by a hanging worker.
    let copy = unfinished_copy(
        dir.path(),
        "unfinished.json",
        "candle",
        "forward,train",
        &["--no-parity"],
    );
    let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("ditbench"))
        .args(["run", "--resume", copy.to_str().unwrap()])
        .env("DITBENCH_TEST_FAULT", "hang:candle")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it has started its case (its progress line).
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if std::fs::read_dir(dir.path())
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".lock"))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let (code, _, stderr) = within(
        Duration::from_secs(60),
        &["run", "--resume", copy.to_str().unwrap()],
    );
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("another ditbench is writing"), "{stderr}");
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&copy).unwrap()).unwrap();
    assert_eq!(after["cases"].as_array().unwrap().len(), 1);
}

/// `ditbench args` started in the background with `fault` injected into
/// its workers, once it has created its results file in `out`: the file.
fn started_in_background(args: &[&str], fault: &str, out: &Path) -> (std::process::Child, PathBuf) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ditbench"))
        .args(args)
        .env("DITBENCH_TEST_FAULT", fault)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        if let Some(file) = common::result_files(out).pop() {
            return (child, file);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().ok();
    child.wait().ok();
    panic!("{args:?} wrote no results file in 120 s");
}

/// `file`'s recorded cases, by id.
fn case_ids(file: &Path) -> Vec<String> {
    let json: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_running_run_holds_its_file_from_creation_so_a_resume_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (mut first, file) = started_in_background(
        &[
            "run",
            "-p",
            "wan-tiny",
            "-b",
            "candle",
            "--passes",
            "forward,train",
            "--no-parity",
            "-o",
            out.to_str().unwrap(),
        ],
        "hang:candle",
        &out,
    );
    // The file is locked before it exists: no moment at which a resume wins.
    let (code, _, stderr) = within(
        Duration::from_secs(60),
        &["run", "--resume", file.to_str().unwrap()],
    );
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("another ditbench is writing"), "{stderr}");
    assert!(stderr.lines().count() == 1, "{stderr}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        json["command"][1], "run",
        "the first run's file was replaced"
    );
    assert!(json["resumed_at"].as_array().unwrap().is_empty());
}

#[test]
fn links_to_a_results_file_neither_bypass_its_lock_nor_replace_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // Interrupted after Candle's case (the parity reference, whose outputs
    // are kept), in Burn's: an unfinished file with its references.
    let (mut first, file) = started_in_background(
        &[
            "run",
            "-p",
            "wan-tiny",
            "-b",
            "candle,burn-flex",
            "--passes",
            "forward",
            "--budget",
            "0.3",
            "--min-time",
            "0.05",
            "-o",
            out.to_str().unwrap(),
        ],
        "hang:burn-flex",
        &out,
    );
    let started = Instant::now();
    while case_ids(&file).is_empty() && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let symlink = dir.path().join("via-symlink.json");
    std::os::unix::fs::symlink(&file, &symlink).unwrap();
    let resume = |path: &Path| {
        within(
            Duration::from_secs(300),
            &["run", "--resume", path.to_str().unwrap()],
        )
    };
    // While the first run writes it, through the link too.
    let (code, _, stderr) = resume(&symlink);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("another ditbench is writing"), "{stderr}");
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(case_ids(&file).len(), 1);

    // A hard link would be left behind by the run's rename: refused.
    let hard = dir.path().join("hard-link.json");
    std::fs::hard_link(&file, &hard).unwrap();
    let (code, _, stderr) = resume(&hard);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("has 2 hard links"), "{stderr}");
    std::fs::remove_file(&hard).unwrap();

    // Through the symbolic link: the target is written, the link stays one,
    // and the kept reference is found under the target's name.
    let (code, _, stderr) = resume(&symlink);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !stderr.contains("parity reference(s) are missing"),
        "{stderr}"
    );
    assert!(
        std::fs::symlink_metadata(&symlink)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let cases = json["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[1]["parity"]["status"], "pass", "{}", cases[1]);
}

#[test]
fn the_parent_builds_no_shared_data_beyond_its_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (_, _, stderr) = within(
        Duration::from_secs(300),
        &[
            "run",
            "-p",
            "wan-tiny",
            "--batch",
            "16384",
            "-b",
            "candle",
            "--passes",
            "forward",
            "--mem-limit",
            "64MiB",
            "--budget",
            "0.3",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(
        stderr.contains("are larger than the parent may hold (64 MiB); each worker seeds its own"),
        "{stderr}"
    );
    let cached = common::files_in(&out.join("cache"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".safetensors"))
        .count();
    assert_eq!(cached, 0);
}

#[test]
fn a_refused_results_file_is_named_with_the_field_it_gets_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let mut json = fixture();
    json["cases"][3]["stats"]["median_s"] = Value::Null;
    let file = write(dir.path(), "null.json", &json);
    for args in [
        vec!["report", file.to_str().unwrap()],
        vec!["compare", file.to_str().unwrap(), file.to_str().unwrap()],
    ] {
        let (code, _, stderr) = within(Duration::from_secs(30), &args);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("at cases[3].stats.median_s"), "{stderr}");
    }
    // A NaN parity error, as a worker records it, reads back as NaN.
    let mut nan = fixture();
    nan["cases"][2]["parity"]["output_rel_error"] = "NaN".into();
    nan["cases"][2]["parity"]["status"] = "fail".into();
    let file = write(dir.path(), "nan.json", &nan);
    let (code, md, stderr) = within(
        Duration::from_secs(30),
        &["report", file.to_str().unwrap(), "--format", "md"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(md.contains("FAIL"), "{md}");
}

#[test]
fn a_sweep_past_the_workload_cap_is_refused_naming_the_product() {
    let values = |first: usize| {
        (0..256)
            .map(|i| (first + 4 * i).to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let (frames, sizes) = (values(5), values(16));
    let sweep = [
        "-p", "wan-tiny", "--frames", &frames, "--height", &sizes, "--width", &sizes,
    ];
    let message = "1 preset(s) x 256 --frames values x 256 --height values x 256 --width values = 16777216 workloads; one command expands to at most 1024";
    let mut run = vec!["run", "--plan"];
    run.extend(sweep);
    let mut list = vec!["list"];
    list.extend(sweep);
    for args in [run, list] {
        let (code, _, stderr) = within(Duration::from_secs(20), &args);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
    // One long sweep: 65,536 points (in 8 arguments: one may hold 128 KiB).
    let chunks: Vec<String> = (0..8)
        .map(|c| {
            let values = (1..=8192).map(|i| (c * 8192 + i).to_string());
            values.collect::<Vec<_>>().join(",")
        })
        .collect();
    let mut args = vec!["list", "-p", "llama-tiny"];
    for chunk in &chunks {
        args.extend(["--seq-len", chunk]);
    }
    let (code, _, stderr) = within(Duration::from_secs(20), &args);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("65536 --seq-len values = 65536 workloads"),
        "{stderr}"
    );
}

#[test]
fn a_repeated_case_is_one_point_of_the_history() {
    let dir = tempfile::tempdir().unwrap();
    // Two runs whose file repeats one case 2,000 times (46 s to report
    // before: every repeat was a point and a comparison).
    let mut files = Vec::new();
    for (i, started) in ["2026-12-01T00:00:00+00:00", "2026-12-02T00:00:00+00:00"]
        .iter()
        .enumerate()
    {
        let mut json = fixture();
        let case = json["cases"][2].clone();
        json["cases"] = Value::Array(vec![case; 2000]);
        json["started_at"] = (*started).into();
        files.push(write(dir.path(), &format!("run{i}.json"), &json));
    }
    let html = dir.path().join("trend.html");
    let (code, _, stderr) = within(
        Duration::from_secs(60),
        &[
            "report",
            files[0].to_str().unwrap(),
            files[1].to_str().unwrap(),
            "--history",
            "-o",
            html.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let page = std::fs::read_to_string(&html).unwrap();
    // One trend (drawn wide and narrow) of two points for the one case.
    let title = "wan-tiny candle cpu f32 forward (vm)";
    assert_eq!(page.matches(title).count(), 2, "{page}");
    let chart = &page[page.find(title).unwrap()..];
    let chart = &chart[..chart.find("</svg>").unwrap()];
    assert_eq!(chart.matches("<circle").count(), 2, "{chart}");
}

#[test]
fn files_ditbench_could_not_have_written_are_refused_by_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let text = fixture().to_string();
    // serde_json keeps the last of two keys: an appended `"cases": []`
    // would read as a run without cases.
    let appended = format!("{}, \"cases\": []}}", &text[..text.len() - 1]);
    let mut files = vec![(
        "duplicate.json".to_string(),
        appended,
        "the key \"cases\" appears twice",
    )];
    let mut edits: Vec<Edit> = vec![
        (
            "date",
            Box::new(|j| j["started_at"] = "not a date".into()),
            "started_at is \"not a date\", not a date and time",
        ),
        (
            "resumed",
            Box::new(|j| j["resumed_at"] = serde_json::json!(["yesterday"])),
            "resumed_at is \"yesterday\"",
        ),
        (
            "host",
            // 1 MiB here; the hostile pass's 200 MiB took 21.6 GiB to report.
            Box::new(|j| j["environment"]["host"] = "h".repeat(1 << 20).into()),
            "a text of 1024 KiB; ditbench writes none over 64 KiB",
        ),
    ];
    for (index, count, message) in [
        (5, 1, "records shard 5 of 1"),
        (0, 0, "records shard 0 of 0"),
        (1, 2, "puts unit wan-tiny in shard 3 of 2"),
    ] {
        let shard = serde_json::json!({
            "index": index, "count": count, "set": null, "plan": "0123456789abcdef",
            "units": [{"unit": "wan-tiny", "shard": 3, "weight": 1}],
        });
        edits.push((
            message,
            Box::new(move |j| j["settings"]["shard"] = shard.clone()),
            message,
        ));
    }
    for (i, (_, edit, message)) in edits.iter().enumerate() {
        let mut json = fixture();
        edit(&mut json);
        files.push((format!("edit{i}.json"), json.to_string(), message));
    }
    let good = write(dir.path(), "good.json", &fixture());
    for (name, text, message) in files {
        let file = dir.path().join(&name);
        std::fs::write(&file, text).unwrap();
        let file = file.to_str().unwrap();
        for args in [
            vec!["report", file, "--format", "md"],
            vec!["compare", good.to_str().unwrap(), file],
            vec!["export", file, "--format", "csv"],
        ] {
            let (code, _, stderr) = within(Duration::from_secs(30), &args);
            assert_eq!(code, Some(2), "{name} {args:?}: {stderr}");
            assert!(stderr.contains(message), "{name} {args:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
        }
    }
}

/// A 2 MiB tmpfs, unmounted when dropped; `None` where this process may
/// not mount (not root): the test then says it skipped.
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount() -> Option<TinyDisk> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(TinyDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fill it to within `free` bytes.
    fn fill(&self, free: u64) {
        let stat = free_bytes(self.path());
        let filler = stat.saturating_sub(free);
        std::fs::write(self.path().join("filler"), vec![0u8; filler as usize]).unwrap();
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        std::process::Command::new("umount")
            .arg(self.dir.path())
            .status()
            .ok();
    }
}

/// Free bytes of the filesystem at `path`.
fn free_bytes(path: &Path) -> u64 {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: statvfs fills the struct it is given; the path is valid.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    st.f_bavail as u64 * st.f_frsize as u64
}

#[test]
fn a_full_disk_names_the_path_and_leaves_no_partial_file() {
    let Some(disk) = TinyDisk::mount() else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root); the full-disk case was not checked"
        );
        return;
    };
    disk.fill(16 * 1024);
    let src = tempfile::tempdir().unwrap();
    let file = write(src.path(), "a.json", &fixture());
    let page = disk.path().join("report.html");
    let (code, _, stderr) = within(
        Duration::from_secs(60),
        &[
            "report",
            file.to_str().unwrap(),
            "-o",
            page.to_str().unwrap(),
        ],
    );
    assert_ne!(code, Some(0));
    assert!(stderr.contains("No space left"), "{stderr}");
    assert!(stderr.contains(page.to_str().unwrap()), "{stderr}");
    let data = disk.path().join("data");
    let (code, _, stderr) = within(
        Duration::from_secs(60),
        &[
            "data",
            "--preset",
            "llama-tiny",
            "--out",
            data.to_str().unwrap(),
        ],
    );
    assert_ne!(code, Some(0));
    assert!(stderr.contains("No space left"), "{stderr}");
    let out = disk.path().join("out");
    let (code, _, stderr) = within(
        Duration::from_secs(120),
        &run_args(&["--budget", "0.2", "--out", out.to_str().unwrap()]),
    );
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains("No space left"), "{stderr}");
    // Nothing half-written under a final name, no temporaries left behind:
    // only the filler and complete files (or none).
    let mut left = Vec::new();
    for entry in walk(disk.path()) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".tmp"),
            "a temporary was left: {}",
            entry.display()
        );
        left.push(name);
    }
    assert!(!left.contains(&"report.html".to_string()), "{left:?}");
}

#[test]
fn a_fifo_or_a_directory_at_a_cache_path_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let args = [
        "run",
        "-p",
        "wan-tiny",
        "-b",
        "candle,burn-flex",
        "--passes",
        "forward",
        "--budget",
        "0.2",
        "--min-time",
        "0.05",
        "-o",
        out.to_str().unwrap(),
    ];
    let (code, _, stderr) = within(Duration::from_secs(300), &args);
    assert_eq!(code, Some(0), "{stderr}");
    let cached = |suffix: &str| {
        walk(&out.join("cache"))
            .into_iter()
            .find(|p| p.to_string_lossy().ends_with(suffix))
            .unwrap()
    };
    let weights = cached(".weights.safetensors");
    let inputs = cached(".inputs.safetensors");
    std::fs::remove_file(&weights).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&weights)
        .status()
        .unwrap();
    assert!(status.success());
    let (code, _, stderr) = within(Duration::from_secs(60), &args);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("is not a regular file"), "{stderr}");
    assert!(stderr.contains("remove it"), "{stderr}");
    std::fs::remove_file(&weights).unwrap();
    std::fs::remove_file(&inputs).unwrap();
    std::fs::create_dir(&inputs).unwrap();
    let (code, _, stderr) = within(Duration::from_secs(120), &args);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("is not a regular file"), "{stderr}");
    // Neither refusal started a results file or left a temporary.
    assert_eq!(common::result_files(&out).len(), 1);
    for file in walk(&out) {
        assert!(
            !file.to_string_lossy().ends_with(".tmp"),
            "{}",
            file.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Every dimension within its ceiling, yet one layer's attention scores
/// alone would be 2^81 bytes: refused before anything is counted wrongly.
const UNCOUNTABLE: [&str; 10] = [
    "-p", "wan-tiny", "--batch", "65536", "--frames", "4093", "--height", "16384", "--width",
    "16384",
];

#[test]
fn counts_beyond_64_bits_exit_2_in_run_list_and_data() {
    let mut run = vec!["run", "-b", "candle", "--passes", "forward"];
    run.extend(UNCOUNTABLE);
    fails_with(&run, "too large to count");
    let mut data = vec!["data"];
    data.extend(
        UNCOUNTABLE
            .iter()
            .map(|a| if *a == "-p" { "--preset" } else { a }),
    );
    fails_with(&data, "too large to count");
    let mut list = vec!["list"];
    list.extend(UNCOUNTABLE);
    let (code, _, stderr) = within(Duration::from_secs(60), &list);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("too large to count"), "{stderr}");
}

#[test]
fn no_shared_data_is_built_for_a_workload_whose_every_case_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // 4.2M tokens: half a gigabyte of seeded latents and targets, within
    // the parent's budget, but training keeps scores no machine holds.
    let (code, stdout, stderr) = within(
        Duration::from_secs(120),
        &[
            "run",
            "-p",
            "wan-tiny",
            "--frames",
            "4093",
            "--height",
            "1024",
            "--width",
            "1024",
            "-b",
            "candle",
            "--passes",
            "train",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    // A skipped case is no failure.
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 skipped"), "{stdout}\n{stderr}");
    let results = common::result_files(&out);
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&results[0]).unwrap()).unwrap();
    let case = &json["cases"][0];
    assert_eq!(case["status"], "skipped", "{case}");
    assert!(
        case["reason"]
            .as_str()
            .unwrap()
            .contains("exceeds this machine's"),
        "{case}"
    );
    let cached = common::files_in(&out.join("cache"));
    assert!(cached.is_empty(), "{cached:?}");
}

#[test]
fn two_plain_runs_into_one_out_share_the_cache_without_corrupting_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // About 130 MB of seeded weights: both runs generate them at once.
    let args = [
        "run",
        "-p",
        "wan-tiny",
        "--dim",
        "1024",
        "--ffn",
        "4096",
        "--heads",
        "16",
        "-b",
        "candle",
        "--passes",
        "forward",
        "--out",
        out.to_str().unwrap(),
    ];
    let spawn = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("ditbench"))
            .args(args)
            .args(common::QUICK)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    for child in [first, second] {
        let done = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert_eq!(done.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("warning: cache file"), "{stderr}");
    }
    let results = common::result_files(&out);
    assert_eq!(results.len(), 2, "{results:?}");
    for path in &results {
        let json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(json["cases"][0]["status"], "ok", "{}", path.display());
        assert!(
            json["cases"][0]["data"]["weights"]
                .as_str()
                .unwrap()
                .contains("cache"),
            "{}",
            json["cases"][0]["data"]
        );
    }
    // The cache holds one weights and one inputs file, each with its digest,
    // and no temporary file (beside the kept parity references).
    let mut cached = common::files_in(&out.join("cache"));
    cached.retain(|p| p.is_file());
    let names: Vec<String> = cached
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cached.len(), 4, "{names:?}");
    for data in cached
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
    {
        let digest_path = PathBuf::from(format!("{}.sha256", data.display()));
        let recorded = std::fs::read_to_string(&digest_path).unwrap();
        let actual = ditbench_core::io::files::sha256_file(data).unwrap();
        assert_eq!(recorded.trim(), actual, "{}", data.display());
    }
}

#[test]
fn negative_and_zero_times_are_refused_naming_the_case() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(dir.path(), "base.json", &fixture());
    let id = fixture()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| !c["stats"].is_null())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // (JSON cannot write an infinite sample: such a file fails the schema.)
    for (name, bad) in [("negative", "-0.001"), ("zero", "0")] {
        let mut json = fixture();
        let case = json["cases"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|c| c["id"] == id.as_str())
            .unwrap();
        case["samples_s"][0] = serde_json::from_str(bad).unwrap();
        let file = write(dir.path(), &format!("{name}.json"), &json);
        let file = file.to_str().unwrap();
        for args in [
            vec!["compare", base.to_str().unwrap(), file],
            vec!["report", file, "--format", "md"],
        ] {
            let (code, _, stderr) = within(Duration::from_secs(60), &args);
            assert_eq!(code, Some(2), "{name} {args:?}: {stderr}");
            assert!(
                stderr.contains(&id) && stderr.contains("positive and finite"),
                "{name}: {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }
}

/// `ditbench args` as a plain process with `stdout` as its standard output.
fn with_stdout(args: &[&str], stdout: impl Into<std::process::Stdio>) -> std::process::Output {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("ditbench"))
        .args(args)
        .stdout(stdout)
        .output()
        .unwrap()
}

#[test]
fn a_full_stdout_is_an_error_and_a_closed_pipe_ends_quietly() {
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    for args in [vec!["list"], vec!["env"], vec!["list", "--json"]] {
        let out = with_stdout(&args, full());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write to standard output"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A reader that has gone: SIGPIPE ends it, as it ends other Unix tools.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = with_stdout(&["list"], writer);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(13), "{:?}", out.status);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_run_whose_stdout_is_full_still_writes_its_results_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let mut args = run_args(&common::QUICK);
    args.extend(["--report", "--out", out_dir.to_str().unwrap()]);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = with_stdout(&args, full);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot write to standard output"),
        "{stderr}"
    );
    let results = common::result_files(&out_dir);
    assert_eq!(results.len(), 1, "{results:?}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&results[0]).unwrap()).unwrap();
    assert!(json["finished_at"].is_string(), "the run finished its file");
    assert!(
        results[0].with_extension("html").is_file(),
        "the report was written"
    );
}

#[test]
fn an_llm_request_too_long_for_any_context_is_refused_by_run_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let results = write(dir.path(), "tiny.json", &fixture());
    let results = results.to_str().unwrap();
    let huge = "18446744073709551615";
    for args in [
        vec!["run", "-p", "llama-tiny", "--plan", "--llm-tokens", huge],
        vec![
            "run",
            "-p",
            "llama-tiny",
            "--plan",
            "--llm-prompt",
            huge,
            "--llm-tokens",
            "1",
        ],
        vec!["report", results, "--llm-prompt", huge, "--llm-tokens", "1"],
        vec!["report", results, "--llm-tokens", huge],
    ] {
        let (code, _, stderr) = within(Duration::from_secs(60), &args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("longer than any model's context"),
            "{stderr}"
        );
    }
    // Within 2^20 but beyond a context window: the claims' Llama-2-70B
    // (4,096 tokens) in `report`, the workload's in `run`.
    for (args, message) in [
        (
            vec![
                "report",
                results,
                "--llm-prompt",
                "4096",
                "--llm-tokens",
                "1",
            ],
            "report: an LLM request of 4096 prompt and 1 generated tokens needs a context of 4097, longer than llama-2-70b's 4096",
        ),
        (
            vec![
                "run",
                "-p",
                "llama-2-7b",
                "--plan",
                "--llm-prompt",
                "4000",
                "--llm-tokens",
                "97",
            ],
            "longer than llama-2-7b's 4096",
        ),
    ] {
        let (code, _, stderr) = within(Duration::from_secs(60), &args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
    let (code, _, stderr) = within(
        Duration::from_secs(60),
        &[
            "report",
            results,
            "--llm-prompt",
            "4000",
            "--llm-tokens",
            "96",
            "--format",
            "md",
        ],
    );
    assert_eq!(code, Some(0), "a request that fits: {stderr}");
}
