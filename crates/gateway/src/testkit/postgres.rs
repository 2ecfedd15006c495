//! A throwaway PostgreSQL server for tests: `initdb` into a temporary directory, started on a free
//! loopback port, stopped and deleted when dropped.
//!
//! The server binaries live under `/usr/lib/postgresql/<version>/bin` (Debian's layout, not on
//! PATH). They refuse to run as root, which CI is: as root, the harness gives the temporary
//! directory to the `postgres` system user (created by the Debian package) and runs every server
//! command through `runuser -u postgres --`.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

const DEBIAN_POSTGRES_ROOT: &str = "/usr/lib/postgresql";
const SYSTEM_USER: &str = "postgres";
const START_ATTEMPTS: usize = 5;

pub struct PostgresServer {
    dir: TempDir,
    bin: PathBuf,
    as_system_user: bool,
    port: u16,
}

impl PostgresServer {
    /// Starts a fresh server; panics with what to install if PostgreSQL is missing.
    pub fn start() -> Self {
        let bin = server_bin_dir().unwrap_or_else(|| {
            panic!(
                "no PostgreSQL server under {DEBIAN_POSTGRES_ROOT}/*/bin: \
                 install it with `apt-get install -y postgresql` (.ci/run does)"
            )
        });
        // Under /tmp rather than $TMPDIR: the system user must be able to reach it, and the server's
        // socket path inside it must stay under the 107-byte limit of Unix socket addresses.
        let dir = tempfile::tempdir_in("/tmp").expect("temporary directory");
        let as_system_user = dir.path().metadata().expect("stat temp dir").uid() == 0;
        if as_system_user {
            let (uid, gid) = (system_user_id("-u"), system_user_id("-g"));
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("give the temporary directory to the postgres user");
        }
        let mut server = Self {
            dir,
            bin,
            as_system_user,
            port: 0,
        };
        server.run(
            "initdb",
            &[
                "-D",
                &server.data_dir(),
                "-A",
                "trust",
                "-U",
                SYSTEM_USER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        // The port is free when probed but another process may take it before the server binds
        // it; try again on a new port then.
        for _ in 0..START_ATTEMPTS {
            server.port = free_port();
            if server.try_start() {
                return server;
            }
        }
        panic!(
            "PostgreSQL did not start; its log:\n{}",
            std::fs::read_to_string(server.log_file()).unwrap_or_default()
        );
    }

    /// The URL of the server's default database.
    pub fn url(&self) -> String {
        format!("postgres://{SYSTEM_USER}@127.0.0.1:{}/postgres", self.port)
    }

    fn try_start(&self) -> bool {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.command("pg_ctl")
            .args(["-D", &self.data_dir(), "-l", &self.log_file(), "-w", "-o"])
            .arg(options)
            .arg("start")
            .output() // captured: on failure the server log says why
            .expect("run pg_ctl")
            .status
            .success()
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut command = if self.as_system_user {
            let mut command = Command::new("runuser");
            command.args(["-u", SYSTEM_USER, "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        // The system user may not be allowed into the test's working directory.
        command.current_dir(self.dir.path());
        command
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn log_file(&self) -> String {
        self.dir.path().join("server.log").display().to_string()
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // Best effort: the directory is deleted after this either way.
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data_dir(), "-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// The newest installed server version's binary directory.
fn server_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir(DEBIAN_POSTGRES_ROOT)
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    versions.sort_by_key(|bin| version_number(bin));
    versions.pop()
}

fn version_number(bin: &Path) -> u32 {
    bin.parent()
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .and_then(|name| name.parse().ok())
        .unwrap_or(0)
}

/// `id -u postgres` or `id -g postgres`.
fn system_user_id(flag: &str) -> u32 {
    let output = Command::new("id")
        .args([flag, SYSTEM_USER])
        .output()
        .expect("run id");
    assert!(
        output.status.success(),
        "no `{SYSTEM_USER}` system user: install the Debian package `postgresql`"
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("numeric id")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a loopback port")
        .port()
}
