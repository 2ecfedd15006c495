//! A real browser for end-to-end tests: headless Debian Chromium driven over WebDriver by
//! `/usr/bin/chromedriver` (packages `chromium` and `chromium-driver`, which `.ci/run`
//! installs). The API is blocking, like the rest of the tests' harness: [`Browser`] owns a
//! small tokio runtime and runs every WebDriver command to completion on it, so a scenario reads
//! as a list of steps. Every wait polls until a deadline and then fails with the page's URL
//! and visible text, so a red CI run says what the browser saw.

use super::tail;
use fantoccini::{Client, ClientBuilder, Locator, elements::Element, wd::Capabilities};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use std::{
    fs,
    future::Future,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// The WebDriver server of Debian's `chromium-driver`.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Debian's `chromium`.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long a wait polls before failing: generous, as the portal verifies every page against
/// the chain and debug builds share 2 busy cores. Only a failing run ever waits this long.
pub const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// Set on a page before an action that leaves it, so the next page is told from the old one.
const LEAVING_MARK: &str = "__medchainLeaving";

/// A headless Chromium session; dropping it ends the session and kills chromedriver.
pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    chromedriver: Child,
    /// Chromium's profile (a fresh one: no cookies or cache from another run) and
    /// chromedriver's log.
    dir: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port, waits until it answers, and opens a
    /// session with a fresh headless Chromium.
    pub fn start() -> Self {
        assert!(
            Path::new(CHROMEDRIVER).exists(),
            "{CHROMEDRIVER} is missing: install Debian's `chromium` and `chromium-driver` (.ci/run does)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        // Its own output (start-up and severe errors) rather than `--log-path`, whose
        // command-by-command log would hold every screenshot in base64.
        let output =
            fs::File::create(dir.path().join("chromedriver.log")).expect("chromedriver log");
        // Port 0: it binds a free port itself and says which, so no other test can take the
        // port between our choosing it and chromedriver binding it.
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("clone log handle"))
            .stderr(output)
            .spawn()
            .expect("start chromedriver");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let mut browser = Self {
            runtime,
            client: None,
            chromedriver,
            dir,
        };
        let webdriver = format!("http://127.0.0.1:{}", browser.chromedriver_port());
        let client = browser
            .runtime
            .block_on(
                ClientBuilder::new(HttpConnector::new())
                    .capabilities(browser.capabilities())
                    .connect(&webdriver),
            )
            .unwrap_or_else(|error| {
                panic!(
                    "no Chromium session: {error}\n{}",
                    browser.chromedriver_log()
                )
            });
        browser.client = Some(client);
        browser
    }

    fn capabilities(&self) -> Capabilities {
        let profile = self.dir.path().join("profile");
        let options = json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                // CI runs as root in a container, where Chromium's sandbox cannot start.
                "--no-sandbox",
                // Containers give /dev/shm 64 MB, which Chromium outgrows.
                "--disable-dev-shm-usage",
                "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        let mut capabilities = Capabilities::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        // A form with `data-confirm` (suspension, break-glass) asks with `window.confirm`:
        // tests answer it with `submit_confirmed`, which also checks that it was asked.
        capabilities
    }

    /// The port chromedriver announces once it listens.
    fn chromedriver_port(&mut self) -> u16 {
        const LISTENING: &str = "started successfully on port ";
        let start = Instant::now();
        loop {
            let log =
                fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
            let port = log
                .split_once(LISTENING)
                .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|port| port.parse().ok());
            if let Some(port) = port {
                return port;
            }
            if let Ok(Some(exit)) = self.chromedriver.try_wait() {
                panic!("chromedriver exited ({exit}):\n{}", self.chromedriver_log());
            }
            assert!(
                start.elapsed() < WAIT,
                "chromedriver did not start within {WAIT:?}:\n{}",
                self.chromedriver_log()
            );
            thread::sleep(POLL);
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a session until dropped")
    }

    /// Runs one WebDriver command; a failing command fails the test with what the page shows.
    fn run<T, E: std::fmt::Display>(
        &self,
        what: &str,
        command: impl Future<Output = Result<T, E>>,
    ) -> T {
        self.runtime
            .block_on(command)
            .unwrap_or_else(|error| panic!("{what}: {error}\n{}", self.describe_page()))
    }

    /// Opens `url` and waits until it has loaded.
    pub fn goto(&self, url: &str) {
        self.run(&format!("open {url}"), self.client().goto(url));
    }

    /// The URL the browser shows.
    pub fn url(&self) -> String {
        self.run("read the URL", self.client().current_url())
            .to_string()
    }

    /// The first element matching `css`, once there is one. Fails at once on a page that
    /// shows `#verification-error` (unless that is what is waited for): such a page holds no
    /// data and will not change.
    pub fn wait_for(&self, css: &str) -> Element {
        let start = Instant::now();
        loop {
            if let Some(element) = self.find(css) {
                return element;
            }
            if css != "#verification-error" && self.find("#verification-error").is_some() {
                panic!(
                    "waiting for `{css}`, the page shows a verification error\n{}",
                    self.describe_page()
                );
            }
            if start.elapsed() > WAIT {
                panic!(
                    "waited {WAIT:?} for `{css}` in vain\n{}",
                    self.describe_page()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// The first element matching `css` now, if any.
    fn find(&self, css: &str) -> Option<Element> {
        self.runtime
            .block_on(self.client().find(Locator::Css(css)))
            .ok()
    }

    /// The visible text of the first element matching `css` (waited for).
    pub fn text(&self, css: &str) -> String {
        let element = self.wait_for(css);
        self.run(&format!("read the text of `{css}`"), element.text())
    }

    /// Attribute `name` of the first element matching `css` (waited for); `None` when the
    /// element does not carry it.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        let element = self.wait_for(css);
        self.run(&format!("read `{name}` of `{css}`"), element.attr(name))
    }

    /// How many elements match `css` now (no waiting: zero is an answer).
    pub fn count(&self, css: &str) -> usize {
        self.run(
            &format!("find `{css}`"),
            self.client().find_all(Locator::Css(css)),
        )
        .len()
    }

    /// Replaces the value of the input matching `css` (waited for) with `value`, typed.
    pub fn fill(&self, css: &str, value: &str) {
        let input = self.wait_for(css);
        self.run(&format!("clear `{css}`"), input.clear());
        self.run(&format!("type into `{css}`"), input.send_keys(value));
    }

    /// Chooses the file at `path` in the file input matching `css` (waited for), as the file
    /// picker does.
    pub fn upload(&self, css: &str, path: &Path) {
        let input = self.wait_for(css);
        let path = path.display().to_string();
        self.run(&format!("choose {path} in `{css}`"), input.send_keys(&path));
    }

    /// Chooses the option whose value is `value` in the select matching `css` (waited for).
    pub fn select(&self, css: &str, value: &str) {
        let select = self.wait_for(css);
        self.run(
            &format!("select {value:?} in `{css}`"),
            select.select_by_value(value),
        );
    }

    /// Clicks the element matching `css` (waited for). Does not wait for a page it may open:
    /// use [`Self::submit`] for forms.
    pub fn click(&self, css: &str) {
        let element = self.wait_for(css);
        self.run(&format!("click `{css}`"), element.click());
    }

    /// Submits the form matching `form_css` with its submit button, as a user does, and waits
    /// until the answer page has replaced this one.
    pub fn submit(&self, form_css: &str) {
        self.click_submit(form_css);
        self.wait_for_new_page(form_css);
    }

    /// Submits a form that asks "are you sure?" first (`form[data-confirm]`): the dialog must
    /// appear, naming `expected` in its question, and is accepted; then waits as
    /// [`Self::submit`] does. Returns the question.
    pub fn submit_confirmed(&self, form_css: &str, expected: &str) -> String {
        self.click_submit(form_css);
        let start = Instant::now();
        let question = loop {
            if let Ok(text) = self.runtime.block_on(self.client().get_alert_text()) {
                break text;
            }
            if start.elapsed() > WAIT {
                panic!(
                    "submitting `{form_css}` asked no confirmation within {WAIT:?}\n{}",
                    self.describe_page()
                );
            }
            thread::sleep(POLL);
        };
        assert!(
            question.contains(expected),
            "the confirmation {question:?} does not mention {expected:?}"
        );
        self.run("accept the confirmation", self.client().accept_alert());
        self.wait_for_new_page(form_css);
        question
    }

    fn click_submit(&self, form_css: &str) {
        let button = self.wait_for(&format!("{form_css} [type=submit]"));
        self.run(
            "mark the page",
            self.client()
                .execute(&format!("window.{LEAVING_MARK} = true;"), vec![]),
        );
        self.run(&format!("submit `{form_css}`"), button.click());
    }

    fn wait_for_new_page(&self, form_css: &str) {
        let start = Instant::now();
        let loaded = format!(
            "return window.{LEAVING_MARK} === undefined && document.readyState === 'complete';"
        );
        loop {
            // Mid-navigation a script may fail (no document yet): that is "not yet".
            let ready = self
                .runtime
                .block_on(self.client().execute(&loaded, vec![]))
                .is_ok_and(|ready| ready == json!(true));
            if ready {
                return;
            }
            if start.elapsed() > WAIT {
                panic!(
                    "submitting `{form_css}` led to no new page within {WAIT:?}\n{}",
                    self.describe_page()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Saves what the window shows as `target/portal-screenshots/NAME.png` and, when
    /// `MEDCHAIN_SCREENSHOTS=1`, as `docs/portal/NAME.png` (the images docs/portal.md shows).
    /// Returns the first path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.run(&format!("screenshot {name}"), self.client().screenshot());
        let mut directories = vec![screenshot_dir()];
        if std::env::var("MEDCHAIN_SCREENSHOTS").is_ok_and(|value| value == "1") {
            directories.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/portal"));
        }
        for directory in &directories {
            fs::create_dir_all(directory).expect("screenshot directory");
            fs::write(directory.join(format!("{name}.png")), &png).expect("write screenshot");
        }
        directories[0].join(format!("{name}.png"))
    }

    /// The page's URL and visible text, for failure messages.
    pub fn describe_page(&self) -> String {
        let url = self
            .runtime
            .block_on(self.client().current_url())
            .map_or_else(|error| format!("(no URL: {error})"), |url| url.to_string());
        let text = self
            .runtime
            .block_on(self.client().execute(
                "return document.body ? document.body.innerText : '(no body)';",
                vec![],
            ))
            .map_or_else(
                |error| format!("(no text: {error})"),
                |text| text.as_str().unwrap_or_default().to_string(),
            );
        format!("--- the browser shows {url} ---\n{text}")
    }

    fn chromedriver_log(&self) -> String {
        let log = self.dir.path().join("chromedriver.log");
        format!(
            "--- chromedriver ({}) ---\n{}",
            log.display(),
            tail(&log, 30)
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes Chromium; killing chromedriver alone would orphan it.
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

/// `target/portal-screenshots`, in the target directory this test was built into.
fn screenshot_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target dir>/tmp`, wherever CARGO_TARGET_DIR puts it.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("portal-screenshots")
}
