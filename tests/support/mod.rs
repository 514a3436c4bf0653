//! Test support: a fresh moto server per test (behind the project's proxy, which answers DLM),
//! forked from one Python process per test binary that imported them once, and a scratch
//! project to run ams-stack in.

pub mod census;
pub mod groups;
pub mod guide;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// moto in server mode on a free loopback port, seeded like a real account, behind the project's
/// proxy (`scripts/faultproxy/faultproxy.py` without faults: it forwards every call to moto and
/// answers DLM, which moto lacks, from memory; it stores policies and takes no snapshots), as
/// `scripts/emulator.sh` runs them. Each test gets its own of both, forked from this test
/// binary's `forks.py` (see [`Forks`]); both are killed on drop.
pub struct Moto {
    _server: Server,
    proxy: Option<Server>,
    /// The proxy's address, where every call goes (moto's own `/moto-api/` included).
    pub endpoint: String,
    /// moto's own address, behind the proxy (no DLM there).
    pub moto_endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_with(true, true)
    }

    /// A moto without the seeded hosted zone, or without the AMS and Ubuntu images.
    pub fn start_with(seed_zone: bool, images: bool) -> Moto {
        let (server, moto_endpoint) = if images {
            Forks::get().start(&format!("moto{}", if seed_zone { "" } else { " noseed" }))
        } else {
            // The images are read when moto is imported: this one is started from nothing.
            Moto::spawn_without_images(seed_zone)
        };
        // From here on, a failure kills what was started (on drop).
        let mut moto = Moto {
            _server: server,
            proxy: None,
            endpoint: String::new(),
            moto_endpoint,
        };
        let (proxy, endpoint) = Forks::get().start(&format!(
            "proxy --listen 0 --upstream {}",
            moto.moto_endpoint
        ));
        moto.proxy = Some(proxy);
        moto.endpoint = endpoint;
        moto
    }

    /// moto with the repair of scripts/emulator/moto_server.py and without `MOTO_AMIS_PATH`.
    fn spawn_without_images(seed_zone: bool) -> (Server, String) {
        let python = repo().join(".venv/bin/python");
        let mut child = Command::new(&python)
            .arg(repo().join("scripts/emulator/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", "0"])
            .envs(MOTO_SETTINGS)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moto_server starts");
        let (sender, receiver) = mpsc::channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(at) = line.find("http://127.0.0.1:") {
                        let endpoint: String = line[at..]
                            .chars()
                            .take_while(|c| !c.is_whitespace())
                            .collect();
                        let _ = sender.send(endpoint);
                    }
                }
            });
        }
        let server = Server::Spawned(child);
        let endpoint = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("moto prints its address");
        if seed_zone {
            let seeded = Command::new(&python)
                .arg(repo().join("scripts/emulator/seed.py"))
                .arg(&endpoint)
                .output()
                .expect("seed runs");
            assert!(
                seeded.status.success(),
                "seeding failed: {}",
                String::from_utf8_lossy(&seeded.stderr)
            );
        }
        (server, endpoint)
    }

    /// SDK config for checking what the emulator holds.
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("ap-south-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_credential_types::Credentials::for_tests())
            .load()
            .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // The proxy first, then what it forwards to.
        self.proxy.take();
    }
}

/// What moto reads when it is imported, as `scripts/emulator.sh` sets it.
const MOTO_SETTINGS: [(&str, &str); 3] = [
    ("MOTO_ACM_VALIDATION_WAIT", "1"),
    ("MOTO_ENABLE_KEYPAIR_VALIDATION", "true"),
    // AWS's managed policies exist in every account (AmazonSSMManagedInstanceCore, which
    // `[security] session_manager` attaches); moto loads them only when asked.
    ("MOTO_IAM_LOAD_MANAGED_POLICIES", "true"),
];

/// An emulator process of one test: forked by [`Forks`], or started on its own. Killed on drop.
enum Server {
    Forked(u32),
    Spawned(Child),
}

impl Drop for Server {
    fn drop(&mut self) {
        match self {
            Server::Forked(pid) => Forks::get().stop(*pid),
            Server::Spawned(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Who waits for which answer of forks.py (a server's pid and address), by request id.
type Waiting = Arc<Mutex<HashMap<u64, mpsc::Sender<(u32, String)>>>>;

/// This test binary's `scripts/emulator/forks.py`: it has imported moto and the proxy once, and
/// forks a fresh moto or proxy for each test that asks (a forked process shares nothing with
/// another test), instead of some fifty Python processes each importing them again (about two
/// seconds of CPU each). It ends when this binary does (its stdin closes).
struct Forks {
    stdin: Mutex<std::process::ChildStdin>,
    waiting: Waiting,
    next: AtomicU64,
    _process: Child,
}

impl Forks {
    fn get() -> &'static Forks {
        static FORKS: OnceLock<Forks> = OnceLock::new();
        FORKS.get_or_init(Forks::spawn)
    }

    fn spawn() -> Forks {
        let python = repo().join(".venv/bin/python");
        assert!(
            repo().join(".venv/bin/moto_server").exists(),
            "moto is not installed: run `scripts/emulator.sh install` (the test command does)"
        );
        let mut process = Command::new(python)
            .arg(repo().join("scripts/emulator/forks.py"))
            .envs(MOTO_SETTINGS)
            .env("MOTO_AMIS_PATH", repo().join("scripts/emulator/amis.json"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("scripts/emulator/forks.py starts");
        let stdin = process.stdin.take().expect("its stdin");
        let stdout = process.stdout.take().expect("its stdout");
        let waiting = Waiting::default();
        let answers = Arc::clone(&waiting);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut words = line.split_whitespace();
                let (Some(id), Some(pid), Some(endpoint)) = (
                    words.next().and_then(|w| w.parse::<u64>().ok()),
                    words.next().and_then(|w| w.parse::<u32>().ok()),
                    words.next(),
                ) else {
                    eprintln!("forks.py said: {line}");
                    continue;
                };
                let waiter = answers.lock().expect("waiting").remove(&id);
                if let Some(waiter) = waiter {
                    let _ = waiter.send((pid, endpoint.to_string()));
                }
            }
        });
        Forks {
            stdin: Mutex::new(stdin),
            waiting,
            next: AtomicU64::new(1),
            _process: process,
        }
    }

    /// Starts `what` ("moto", "moto noseed" or "proxy ARGS..."); the server and its address.
    fn start(&self, what: &str) -> (Server, String) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = mpsc::channel();
        self.waiting.lock().expect("waiting").insert(id, sender);
        let (kind, args) = what.split_once(' ').unwrap_or((what, ""));
        self.send(&format!("{kind} {id} {args}"));
        let (pid, endpoint) = receiver
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("forks.py started no {what} (its errors are above)"));
        assert!(
            endpoint.starts_with("http://127.0.0.1:"),
            "unexpected address from forks.py: {endpoint}"
        );
        (Server::Forked(pid), endpoint)
    }

    fn stop(&self, pid: u32) {
        self.send(&format!("stop {pid}"));
    }

    fn send(&self, line: &str) {
        let mut stdin = self.stdin.lock().expect("forks.py's stdin");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .expect("forks.py reads its stdin");
    }
}

/// A scratch directory with `stacks/` and `state/`, where ams-stack runs.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    /// The shipped stack files, with `local` pointed at `endpoint` when given.
    pub fn new(endpoint: Option<&str>) -> Project {
        Project::new_in(&std::env::temp_dir(), endpoint)
    }

    /// The same, in a new directory under `parent`.
    pub fn new_in(parent: &std::path::Path, endpoint: Option<&str>) -> Project {
        let dir = tempfile::tempdir_in(parent).expect("temp dir");
        std::fs::create_dir_all(dir.path().join("stacks")).expect("stacks dir");
        for name in ["local", "prod"] {
            let mut text =
                std::fs::read_to_string(repo().join(format!("stacks/{name}.toml"))).expect("stack");
            if let (Some(endpoint), "local") = (endpoint, name) {
                text = text.replace("http://127.0.0.1:4566", endpoint);
            }
            std::fs::write(dir.path().join(format!("stacks/{name}.toml")), text)
                .expect("write stack");
        }
        Project { dir }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("dir");
        }
        std::fs::write(path, text).expect("write");
    }

    /// The stack file `stacks/local.toml` with `extra` at its end.
    pub fn append_local(&self, extra: &str) {
        let text = std::fs::read_to_string(self.path("stacks/local.toml")).expect("stack");
        self.write("stacks/local.toml", &format!("{text}\n{extra}"));
    }

    pub fn edit(&self, relative: &str, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.path(relative)).expect("read");
        assert!(text.contains(from), "{relative} has no `{from}`");
        self.write(relative, &text.replacen(from, to, 1));
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ams-stack"));
        command
            .args(args)
            .arg("--root")
            .arg(self.dir.path())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null());
        command
    }

    /// Runs ams-stack; how long it took goes to the test's output (shown for a failing test,
    /// or with `--nocapture`), to see where a slow test spends its time.
    pub fn run(&self, args: &[&str]) -> Run {
        let started = std::time::Instant::now();
        let run = Run::from(self.command(args).output().expect("ams-stack runs"));
        eprintln!(
            "[{:6.1}s] ams-stack {} -> {:?}",
            started.elapsed().as_secs_f64(),
            args.join(" "),
            run.code
        );
        run
    }

    /// Runs with a call log; returns the run and the AWS operations it called.
    pub fn run_logged(&self, args: &[&str]) -> (Run, Vec<String>) {
        let log = self.path("calls.log");
        let _ = std::fs::remove_file(&log);
        let run = Run::from(
            self.command(args)
                .env("AMS_STACK_CALL_LOG", &log)
                .output()
                .expect("ams-stack runs"),
        );
        let calls = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect();
        (run, calls)
    }
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "expected success\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fails(self) -> Self {
        assert_eq!(
            self.code,
            Some(1),
            "expected failure\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// The project's fault proxy (scripts/faultproxy/faultproxy.py) in front of a moto; killed on drop.
pub struct FaultProxy {
    _server: Server,
    pub endpoint: String,
}

impl FaultProxy {
    /// `args`: faultproxy.py's flags (no spaces inside one).
    pub fn start(upstream: &str, args: &[&str]) -> FaultProxy {
        assert!(
            args.iter().all(|a| !a.contains(char::is_whitespace)),
            "a flag of the proxy with a space in it: {args:?}"
        );
        let (server, endpoint) = Forks::get().start(&format!(
            "proxy --listen 0 --upstream {upstream} {}",
            args.join(" ")
        ));
        FaultProxy {
            _server: server,
            endpoint,
        }
    }

    /// A strict cloud in front of `upstream`: every AWS rule the proxy knows enforced
    /// (`scripts/faultproxy/cloud.py`), with `args` setting its clocks and lingers.
    pub fn strict(upstream: &str, args: &[&str]) -> FaultProxy {
        let mut all = vec!["--cloud", "strict"];
        all.extend_from_slice(args);
        FaultProxy::start(upstream, &all)
    }

    /// Calls seen, by `service:Operation`.
    pub fn counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.get("/__proxy/counts")
    }

    /// How often each strict-cloud rule refused a call, by rule name.
    pub fn refusals(&self) -> std::collections::BTreeMap<String, u64> {
        self.get("/__proxy/rules")
    }

    fn get(&self, path: &str) -> std::collections::BTreeMap<String, u64> {
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).expect("proxy reachable");
        use std::io::{Read, Write};
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .expect("request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response");
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("{}");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }
}

/// User data as EC2 holds it (base64; gzip-compressed when the script is over 16 KB), as text.
pub fn user_data_text(data: &str) -> String {
    use base64::Engine as _;
    use std::io::Read as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .expect("base64");
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .expect("gzip");
        return text;
    }
    String::from_utf8(bytes).expect("utf-8")
}

/// The operations among `calls` (`service:Operation`, as the call log writes them) that change
/// something: none may run where nothing changes.
pub fn mutating(calls: &[String]) -> Vec<&String> {
    let reads = ["Describe", "List", "Get", "Head"];
    calls
        .iter()
        .filter(|c| {
            let op = c.split(':').nth(1).unwrap_or_default();
            !reads.iter().any(|r| op.starts_with(r))
        })
        .collect()
}
