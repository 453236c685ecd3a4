//! The Slurm recipe for real: a single-node cluster on this machine (munged,
//! slurmctld and slurmd as root, a minimal slurm.conf written here, stopped
//! by their pids), `scripts/slurm/submit.sh` for the tiny presets in three
//! shards, and the merged report checked to hold every planned case once.
//!
//! Needs root and Debian's `slurm-wlm` and `munge` (installed here with
//! apt-get when missing). Where they cannot be had the test says so and
//! passes, unless `DITBENCH_REQUIRE_SLURM=1` (as in CI), where it fails.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why this machine cannot run the cluster, after trying to install it.
fn missing_slurm() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (slurmd and munged run as root here)".into());
    }
    let needed = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo"];
    if needed.iter().all(|p| have(p)) {
        return None;
    }
    let install = Command::new("sh")
        .args([
            "-c",
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null)",
        ])
        .status();
    match install {
        Ok(s) if s.success() && needed.iter().all(|p| have(p)) => None,
        _ => Some("Debian's slurm-wlm and munge could not be installed with apt-get".into()),
    }
}

/// The daemons, killed by pid when the test ends (also on a failure).
struct Cluster {
    daemons: Vec<Child>,
    conf: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for d in self.daemons.iter_mut().rev() {
            // SAFETY: a signal to a child this test started.
            unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
        }
        for d in &mut self.daemons {
            let deadline = Instant::now() + Duration::from_secs(10);
            while d.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            d.kill().ok();
            d.wait().ok();
        }
    }
}

impl Cluster {
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }
}

fn short_host() -> String {
    let out = Command::new("hostname").arg("-s").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn start_cluster(dir: &Path) -> Cluster {
    let munge = dir.join("munge");
    for d in [
        &munge,
        &dir.join("spool"),
        &dir.join("state"),
        &dir.join("log"),
    ] {
        std::fs::create_dir_all(d).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&munge, std::fs::Permissions::from_mode(0o711)).unwrap();
    let key = munge.join("munge.key");
    let bytes: Vec<u8> = (0..1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&key, bytes).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let socket = munge.join("munge.socket");
    let log = |name: &str| std::fs::File::create(dir.join("log").join(name)).unwrap();
    let mut daemons = Vec::new();
    let munged = Command::new("munged")
        .args(["--foreground", "--force"])
        .arg(format!("--key-file={}", key.display()))
        .arg(format!("--socket={}", socket.display()))
        .arg(format!("--pid-file={}", munge.join("munged.pid").display()))
        .arg(format!(
            "--log-file={}",
            dir.join("log/munged.log").display()
        ))
        .arg(format!("--seed-file={}", munge.join("seed").display()))
        .stdout(log("munged.out"))
        .stderr(log("munged.err"))
        .spawn()
        .unwrap();
    daemons.push(munged);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Ports of this process's own, so two test runs do not meet.
    let port = 20_000 + (std::process::id() % 10_000) * 2;
    let host = short_host();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let d = dir.display();
    let conf = dir.join("slurm.conf");
    std::fs::write(
        &conf,
        format!(
            "ClusterName=ditbench-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={socket}
CredType=cred/munge
SlurmctldPort={port}
SlurmdPort={dport}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerParameters=sched_interval=2
NodeName={host} CPUs={cpus} State=UNKNOWN
PartitionName=bench Nodes={host} Default=YES MaxTime=INFINITE State=UP
",
            socket = socket.display(),
            dport = port + 1,
        ),
    )
    .unwrap();
    let mut cluster = Cluster { daemons, conf };
    for (program, name) in [("slurmctld", "slurmctld"), ("slurmd", "slurmd")] {
        let child = cluster
            .command(program)
            .arg("-D")
            .arg("-f")
            .arg(&cluster.conf)
            .stdout(log(&format!("{name}.out")))
            .stderr(log(&format!("{name}.err")))
            .spawn()
            .unwrap();
        cluster.daemons.push(child);
        std::thread::sleep(Duration::from_millis(500));
    }
    // Until the node is up and idle.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = cluster
            .command("sinfo")
            .args(["-h", "-o", "%T"])
            .output()
            .unwrap();
        let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if state == "idle" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the node did not come up (state '{state}'); logs in {}",
            dir.join("log").display()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    cluster
}

#[test]
fn a_slurm_job_array_runs_every_shard_and_one_job_merges_them() {
    if let Some(why) = missing_slurm() {
        assert!(
            std::env::var_os("DITBENCH_REQUIRE_SLURM").is_none(),
            "DITBENCH_REQUIRE_SLURM is set but the cluster cannot run: {why}"
        );
        eprintln!("SKIPPED: {why}; the Slurm recipe was not run");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = start_cluster(&dir.path().join("cluster"));
    let out = dir.path().join("suite");
    let binary = env!("CARGO_BIN_EXE_ditbench");
    let suite = ["-p", "wan-tiny,llama-tiny", "-b", "candle,tch"];
    let submit = cluster
        .command(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/slurm/submit.sh"
        ))
        .args(["--shards", "3", "--ditbench", binary, "--out"])
        .arg(&out)
        .arg("--")
        .args(suite)
        .args(common::QUICK)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&submit.stdout).to_string();
    assert!(
        submit.status.success(),
        "submit.sh failed: {said}{}",
        String::from_utf8_lossy(&submit.stderr)
    );
    let merge_job = said
        .split("merge job ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .unwrap_or_else(|| panic!("no merge job id in: {said}"))
        .to_string();
    // Until the merge job has left the queue.
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let q = cluster
            .command("squeue")
            .args(["-h", "-o", "%i %T"])
            .output()
            .unwrap();
        let queue = String::from_utf8_lossy(&q.stdout).to_string();
        if q.status.success() && queue.trim().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs still queued after 15 minutes:\n{queue}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    let logs = out.join("logs");
    let log = |name: &str| std::fs::read_to_string(logs.join(name)).unwrap_or_default();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap_or_else(|_| {
        panic!(
            "merge job {merge_job} wrote no report.md; merge.log:\n{}\nshard-1.log:\n{}",
            log("merge.log"),
            log("shard-1.log")
        )
    });
    assert!(out.join("report.html").is_file());
    assert!(md.contains("all 3 shards present"), "{md}");
    assert!(md.contains("Merged shard set slurm-"), "{md}");

    // Every case the unsharded plan holds ran once, in one of three files.
    let plan = common::ditbench()
        .args(["run", "--plan"])
        .args(suite)
        .output()
        .unwrap();
    let planned: BTreeSet<String> = String::from_utf8(plan.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.trim().to_string())
        .collect();
    let files = common::result_files(&out.join("shards"));
    assert_eq!(files.len(), 3, "{files:?}");
    let mut ran = Vec::new();
    let mut shards = BTreeSet::new();
    for f in &files {
        let json: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        assert!(
            json["finished_at"].is_string(),
            "{} did not finish",
            f.display()
        );
        shards.insert(json["settings"]["shard"]["index"].as_u64().unwrap());
        for c in json["cases"].as_array().unwrap() {
            assert_eq!(c["status"], "ok", "{}", c["id"]);
            ran.push(c["id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(shards, BTreeSet::from([1, 2, 3]));
    let unique: BTreeSet<String> = ran.iter().cloned().collect();
    assert_eq!(unique.len(), ran.len(), "a case ran twice: {ran:?}");
    assert_eq!(unique, planned);
    drop(cluster);
}
