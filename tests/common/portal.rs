//! `medchain portal` for end-to-end tests: the web app a user runs beside their key file,
//! started as a user does (`--json` prints its login URL), pointed at any node URL — a real
//! validator or a [`super::tamper::TamperingProxy`] in front of one.

// The portal crate's signed-in HTTP session, shared with its own integration tests.
#[path = "../../crates/portal/tests/support/mod.rs"]
pub mod session;

use super::{MEDCHAIN, Network, PASSPHRASE, READY_TIMEOUT, tail};
use std::{
    fs,
    io::{BufRead, BufReader, Write},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
};

/// A running `medchain portal`; dropping it kills the process.
pub struct PortalProcess {
    /// The login URL it printed (`http://127.0.0.1:PORT/login?token=…`): opening it signs the
    /// browser in.
    pub login_url: String,
    /// `http://127.0.0.1:PORT`, where its pages are.
    pub base: String,
    /// The address of the key it acts with.
    pub address: String,
    /// Its standard output after the first line, and its standard error.
    pub log: PathBuf,
    child: Child,
}

impl PortalProcess {
    /// Starts `medchain portal --key KEY --node NODE` on a free loopback port of the
    /// network's chain and waits for the line with its login URL.
    pub fn start(network: &Network, key: &str, node: &str) -> Self {
        let name = PathBuf::from(key)
            .file_stem()
            .map_or_else(|| "key".into(), |stem| stem.to_string_lossy().into_owned());
        let log = unused_path(network, &format!("portal-{name}"));
        let stderr = fs::File::create(&log).expect("portal log");
        let mut child = Command::new(MEDCHAIN)
            .args(["portal", "--key", key, "--node", node, "--genesis"])
            .arg(&network.genesis)
            .args(["--listen", "127.0.0.1:0", "--json"])
            .current_dir(network.dir.path())
            .env("MEDCHAIN_PASSPHRASE", PASSPHRASE)
            .env_remove("MEDCHAIN_KEY")
            .env_remove("MEDCHAIN_NODE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr.try_clone().expect("clone log handle"))
            .spawn()
            .expect("start medchain portal");
        let stdout = child.stdout.take().expect("piped stdout");
        let first_line = first_line_then_copy(stdout, stderr);
        // Empty when it exited first.
        let line = first_line.recv_timeout(READY_TIMEOUT).unwrap_or_default();
        if line.is_empty() {
            let _ = child.kill();
            let status = child.wait().expect("reap");
            panic!(
                "medchain portal printed no login URL (waited at most {READY_TIMEOUT:?}; {status})\n{}",
                logs(&log)
            );
        }
        let printed: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {line}\n{}", logs(&log)));
        let field = |name: &str| {
            printed[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name:?} in {line}"))
                .to_string()
        };
        let login_url = field("url");
        let base = login_url
            .split_once("/login")
            .unwrap_or_else(|| panic!("not a login URL: {login_url}"))
            .0
            .to_string();
        Self {
            base,
            address: field("address"),
            login_url,
            log,
            child,
        }
    }

    /// A browser without scripts signed in to this portal (it keeps the portal running).
    pub fn sign_in(self) -> session::PortalSession<Self> {
        let login_url = self.login_url.clone();
        session::PortalSession::sign_in(self, &login_url)
    }

    /// The page at `path` (`/patient/consents`, …).
    pub fn page(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The portal process's id (the bench reads its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The tail of the portal's log, for failure messages.
    pub fn logs(&self) -> String {
        logs(&self.log)
    }
}

impl Drop for PortalProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends the first line of `stdout` (empty if it closes first), then copies the rest into
/// `log`, so the portal never blocks on a full pipe.
fn first_line_then_copy(
    stdout: impl std::io::Read + Send + 'static,
    mut log: fs::File,
) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let _ = sender.send(first);
        for line in lines.map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
        }
    });
    receiver
}

/// `<network dir>/NAME.log`, or `NAME-2.log`, … when a portal of that name ran before.
fn unused_path(network: &Network, name: &str) -> PathBuf {
    (1..)
        .map(|n| match n {
            1 => network.path(&format!("{name}.log")),
            n => network.path(&format!("{name}-{n}.log")),
        })
        .find(|path| !path.exists())
        .expect("a free log name")
}

fn logs(log: &std::path::Path) -> String {
    format!("--- portal ({}) ---\n{}", log.display(), tail(log, 30))
}
