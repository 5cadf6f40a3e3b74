//! A throwaway PostgreSQL cluster for tests: `initdb` in a temporary folder, the server on a
//! free loopback port, run as a user who is not root, and stopped when the test process ends
//! (the kernel sends it SIGINT, a fast shutdown, when the thread that started it goes). A
//! machine without PostgreSQL's server fails the tests that need it, with a message saying
//! what to install; they never skip.
//!
//! Not for production: it trusts every local connection.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub struct Cluster {
    pub port: u16,
    pub dir: PathBuf,
    requests: Mutex<Sender<(libc::c_int, Duration, Sender<()>)>>,
    next: std::sync::atomic::AtomicUsize,
}

/// The cluster this test process shares, started by the first test that asks.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| start("shared", false))
}

/// A cluster of the caller's own, for a test that restarts it (a shared one would fail the
/// tests using it meanwhile).
pub fn own_cluster(name: &str) -> Cluster {
    start(name, false)
}

/// A cluster of the caller's own that also accepts TLS (`ssl = on`), with a certificate for
/// `localhost` and `127.0.0.1` signed by a throwaway CA; the CA's certificate is at
/// `ca_file()`. Made with the `openssl` program.
pub fn own_cluster_with_tls(name: &str) -> Cluster {
    start(name, true)
}

/// Where the server's programs are: `FINSAM_PG_BIN`, else Debian's newest
/// `/usr/lib/postgresql/*/bin`, else the `PATH`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FINSAM_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("postgres").is_file())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|d| d.join("postgres").is_file() && d.join("initdb").is_file()))
        .unwrap_or_else(|| {
            panic!(
                "these tests need PostgreSQL's server (postgres and initdb), and none was found in /usr/lib/postgresql/*/bin \
                 or on the PATH: install it (Debian: apt-get install postgresql) or set FINSAM_PG_BIN to its bin folder"
            )
        })
}

/// The user the server runs as: this one, or when that is root (PostgreSQL refuses to run as
/// root) `postgres` (Debian's package makes it) or `nobody`.
fn server_user() -> Option<(u32, u32)> {
    // SAFETY: getuid cannot fail; getpwnam returns a pointer to static storage or null, read
    // at once on this thread before any other call that could overwrite it.
    unsafe {
        if libc::getuid() != 0 {
            return None;
        }
        for name in [c"postgres", c"nobody"] {
            let pw = libc::getpwnam(name.as_ptr());
            if !pw.is_null() {
                return Some(((*pw).pw_uid, (*pw).pw_gid));
            }
        }
    }
    panic!("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL's server as")
}

fn as_user(command: &mut Command, user: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = user {
        command.gid(gid).uid(uid);
    }
    command
}

/// Removes the folders of clusters whose test process has ended.
fn sweep(parent: &Path) {
    for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|n| n.strip_prefix("finsam-pg-")).and_then(|n| n.split('-').next());
        let Some(pid) = pid.and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        // SAFETY: kill with signal 0 only asks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A CA and a server certificate signed by it, in `dir` (the key readable by the server only).
fn make_certificates(dir: &Path, user: Option<(u32, u32)>) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("run openssl (Debian: apt-get install openssl)");
        assert!(out.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=finsam test CA"],
    ]
    .concat());
    run(&[&["req"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]].concat());
    std::fs::write(dir.join("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").expect("write server.ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    let key = dir.join("server.key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod server.key");
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&key, Some(uid), Some(gid)).expect("give server.key to the server's user");
    }
}

fn start(name: &str, tls: bool) -> Cluster {
    let bin = bin_dir();
    let user = server_user();
    let parent = std::env::temp_dir();
    sweep(&parent);
    let dir = parent.join(format!("finsam-pg-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the cluster's folder");
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("give the cluster's folder to its user");
    }
    let data = dir.join("data");
    let out = as_user(&mut Command::new(bin.join("initdb")), user)
        .args(["-D"])
        .arg(&data)
        .args(["-U", "finsam", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"])
        .stdin(Stdio::null())
        .output()
        .expect("run initdb");
    assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
    if tls {
        make_certificates(&dir, user);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let (requests, keeper_requests) = channel();
    let (ready, started) = channel();
    let keeper_dir = dir.clone();
    std::thread::Builder::new()
        .name("finsam-pg-keeper".into())
        .spawn(move || keep(bin, user, keeper_dir, port, tls, keeper_requests, ready))
        .expect("start the cluster's keeper");
    started.recv().expect("the keeper says whether the server started");
    Cluster { port, dir, requests: Mutex::new(requests), next: std::sync::atomic::AtomicUsize::new(0) }
}

fn spawn_server(bin: &Path, user: Option<(u32, u32)>, dir: &Path, port: u16, tls: bool) -> Child {
    let mut command = Command::new(bin.join("postgres"));
    if tls {
        command.args(["-c", "ssl=on", "-c"]).arg(format!("ssl_cert_file={}", dir.join("server.crt").display()));
        command.arg("-c").arg(format!("ssl_key_file={}", dir.join("server.key").display()));
    }
    as_user(&mut command, user)
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200", "-c", "fsync=on"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("server.log")).map(Stdio::from).unwrap_or(Stdio::null()));
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to stop the server (fast
    // shutdown) when the thread that started it ends, i.e. when the test process does.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn().expect("start postgres")
}

fn wait_ready(port: u16, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("postgresql://finsam@127.0.0.1:{port}/postgres");
    while postgres::Client::connect(&url, postgres::NoTls).is_err() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            panic!("PostgreSQL did not accept connections within 60 s; its log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the server, and restarts it when asked (with the signal given: SIGINT is a fast
/// shutdown, SIGQUIT an immediate one, a crash as far as the database is concerned). Lives as
/// long as the test process.
fn keep(
    bin: PathBuf,
    user: Option<(u32, u32)>,
    dir: PathBuf,
    port: u16,
    tls: bool,
    requests: Receiver<(libc::c_int, Duration, Sender<()>)>,
    ready: Sender<()>,
) {
    let mut server = spawn_server(&bin, user, &dir, port, tls);
    wait_ready(port, &dir);
    let _ = ready.send(());
    for (signal, pause, done) in requests {
        // SAFETY: a signal to the server this thread started.
        unsafe { libc::kill(server.id() as i32, signal) };
        let _ = server.wait();
        std::thread::sleep(pause);
        server = spawn_server(&bin, user, &dir, port, tls);
        wait_ready(port, &dir);
        let _ = done.send(());
    }
}

impl Cluster {
    /// The throwaway CA's certificate, for `sslrootcert` (a cluster from `own_cluster_with_tls`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// A new, empty database of its own, and its address.
    pub fn database(&self, what: &str) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name: String = format!("{what}_{n}")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .collect();
        let mut admin = postgres::Client::connect(
            &format!("postgresql://finsam@127.0.0.1:{}/postgres", self.port),
            postgres::NoTls,
        )
        .expect("connect to the cluster");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).expect("drop an old database");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create a database");
        format!("postgresql://finsam@127.0.0.1:{}/{name}", self.port)
    }

    /// Stops the server with `signal` (SIGINT: fast shutdown; SIGQUIT: immediate, as a crash)
    /// and starts it again; returns when it accepts connections.
    pub fn restart(&self, signal: libc::c_int) {
        self.restart_after(signal, Duration::ZERO);
    }

    /// As `restart`, with the server down for `pause` in between.
    pub fn restart_after(&self, signal: libc::c_int, pause: Duration) {
        let (done, wait) = channel();
        let requests = self.requests.lock().expect("the cluster's lock is never poisoned");
        requests.send((signal, pause, done)).expect("the keeper runs");
        drop(requests);
        wait.recv().expect("the keeper restarts the server");
    }
}
