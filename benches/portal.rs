//! The portal's speed on a real network (issue 10): 4 `medchain node` validators seeded by
//! `scripts/portal-demo` (a hospital, a licensed doctor, a patient with two records, a denied
//! request), plus `MEDCHAIN_BENCH_REQUESTS` (default 100) more denied requests so the
//! patient's access history has a realistic length. Then a patient's and the regulator's
//! `medchain portal` processes, and for each page `MEDCHAIN_BENCH_SAMPLES` (default 20) GETs
//! with the login cookie, one after another, timed from request to the last byte:
//! everything a page costs — verified reads (certificate + proofs), rendering — on loopback.
//! Also the end-to-end latency of an action (a consent grant: form POST → signed → final →
//! the page showing the verified receipt), and each portal's resident memory afterwards.
//!
//! Run with `cargo bench --bench portal`; it prints a markdown report.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{MEDCHAIN, Network, PASSPHRASE, portal::PortalProcess};
use std::{
    env, fs,
    process::Command,
    time::{Duration, Instant},
};

type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn setting(name: &str, default: usize) -> usize {
    env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A signed-in portal: its base URL and the session cookie.
struct Session {
    base: String,
    cookie: String,
    agent: ureq::Agent,
}

impl Session {
    fn sign_in(portal: &PortalProcess) -> Fallible<Self> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let response = agent.get(&portal.login_url).call()?;
        let cookie = response
            .headers()
            .get("set-cookie")
            .ok_or("the login answered without a cookie")?
            .to_str()?
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        Ok(Self {
            base: portal.base.clone(),
            cookie,
            agent,
        })
    }

    /// GETs `path`, failing unless it is a verified page; returns its size in bytes.
    fn get(&self, path: &str) -> Fallible<usize> {
        let mut response = self
            .agent
            .get(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .call()?;
        let status = response.status();
        let body = response.body_mut().read_to_string()?;
        if status != 200 || !body.contains("data-verified-height") {
            let reason = body
                .split("role=\"alert\"")
                .nth(1)
                .unwrap_or(&body)
                .chars()
                .take(1500)
                .collect::<String>();
            return Err(format!("{path}: HTTP {status}, not a verified page: {reason}").into());
        }
        Ok(body.len())
    }

    /// POSTs a form and follows the one redirect to the page with the verified receipt.
    fn act(&self, path: &str, form: &[(&str, &str)]) -> Fallible<()> {
        let response = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .send_form(form.iter().copied())?;
        let location = response
            .headers()
            .get("location")
            .ok_or_else(|| format!("{path}: HTTP {} and no redirect", response.status()))?
            .to_str()?
            .to_string();
        let mut landed = self
            .agent
            .get(&format!("{}{location}", self.base))
            .header("Cookie", &self.cookie)
            .call()?;
        let body = landed.body_mut().read_to_string()?;
        if !body.contains(r#"data-outcome="ok""#) {
            return Err(format!("{path}: the action did not report success").into());
        }
        Ok(())
    }

    /// The form value (`csrf`) the pages carry.
    fn csrf(&self, path: &str) -> Fallible<String> {
        let mut response = self
            .agent
            .get(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .call()?;
        let body = response.body_mut().read_to_string()?;
        let start = body
            .find(r#"name="csrf" value=""#)
            .ok_or("no csrf value on the page")?
            + r#"name="csrf" value=""#.len();
        Ok(body[start..start + 64].to_string())
    }
}

/// Median and 95th percentile of `samples`, in milliseconds.
fn summary(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[index].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.95))
}

fn time_page(session: &Session, path: &str, samples: usize) -> Fallible<(f64, f64, f64, usize)> {
    let start = Instant::now();
    let bytes = session.get(path)?;
    let first = start.elapsed().as_secs_f64() * 1000.0;
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        session.get(path)?;
        times.push(start.elapsed());
    }
    let (median, p95) = summary(times);
    Ok((first, median, p95, bytes))
}

fn resident_kib(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .map(|line| line.trim_start_matches("VmRSS:").trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

fn main() -> Fallible<()> {
    let samples = setting("MEDCHAIN_BENCH_SAMPLES", 20);
    let requests = setting("MEDCHAIN_BENCH_REQUESTS", 100);
    let network = Network::start(4);
    network.wait_for_pkg();
    let demo = network.path("demo");
    let seeded = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/portal-demo"))
        .arg(&demo)
        .current_dir(network.dir.path())
        .env("MEDCHAIN", MEDCHAIN)
        .env("MEDCHAIN_NODE", &network.nodes[0].api)
        .env("MEDCHAIN_GENESIS", &network.genesis)
        .env("MEDCHAIN_REGULATOR_KEY", &network.regulator_key)
        .env("MEDCHAIN_PASSPHRASE", PASSPHRASE)
        .output()?;
    if !seeded.status.success() {
        return Err(format!(
            "scripts/portal-demo failed:\n{}{}",
            String::from_utf8_lossy(&seeded.stdout),
            String::from_utf8_lossy(&seeded.stderr)
        )
        .into());
    }
    let key = |name: &str| demo.join(format!("{name}.key")).display().to_string();
    let record = network.json(&["record", "list", "--key", &key("patient")])["entries"][0]["id"]
        .as_str()
        .ok_or("the patient has no record")?
        .to_string();
    for _ in 0..requests {
        network.denied(&[
            "access",
            "request",
            "--key",
            &key("researcher"),
            "--record",
            &record,
            "--purpose",
            "research",
        ]);
    }

    let node = &network.nodes[0].api;
    let patient_portal = PortalProcess::start(&network, &key("patient"), node);
    let regulator_portal =
        PortalProcess::start(&network, &network.regulator_key.display().to_string(), node);
    let patient = Session::sign_in(&patient_portal)?;
    let regulator = Session::sign_in(&regulator_portal)?;

    let researcher = String::from_utf8(
        Command::new(MEDCHAIN)
            .args(["address", "--key", &key("researcher")])
            .output()?
            .stdout,
    )?
    .trim()
    .to_string();
    let mut grants = Vec::new();
    for _ in 0..5 {
        let csrf = patient.csrf("/patient/consents")?;
        let start = Instant::now();
        patient.act(
            "/patient/consents",
            &[
                ("csrf", csrf.as_str()),
                ("grantee", researcher.as_str()),
                ("records", record.as_str()),
                ("purpose", "research"),
                ("expires", "30d"),
            ],
        )?;
        grants.push(start.elapsed());
    }

    println!(
        "## portal (4 validators, {requests} extra denied requests in the history, {samples} samples per page)\n"
    );
    println!("| page | first load ms | median ms | p95 ms | bytes |");
    println!("|---|---|---|---|---|");
    let pages: [(&Session, &str); 10] = [
        (&patient, "/patient/records"),
        (&patient, "/patient/consents"),
        (&patient, "/patient/history"),
        (&patient, "/patient/notifications"),
        (&regulator, "/regulator/orgs"),
        (&regulator, "/regulator/licences"),
        (&regulator, "/regulator/break-glass"),
        (&regulator, "/regulator/orgs/Seoul%20General"),
        (&patient, "/explorer"),
        (&patient, "/explorer/blocks/1"),
    ];
    for (session, path) in pages {
        let (first, median, p95, bytes) = time_page(session, path, samples)?;
        println!("| `{path}` | {first:.1} | {median:.1} | {p95:.1} | {bytes} |");
    }
    let (median, p95) = summary(grants);
    println!(
        "\nconsent grant through the page (POST → signed → final → receipt page), 5 runs: median {median:.0} ms, p95 {p95:.0} ms"
    );
    println!(
        "resident memory afterwards: patient portal {}, regulator portal {}",
        resident_kib(patient_portal.pid()),
        resident_kib(regulator_portal.pid())
    );
    Ok(())
}
