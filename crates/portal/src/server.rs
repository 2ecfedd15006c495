//! The HTTP server: start-up, the session guard, and the two ways a handler answers — a
//! verified page ([`App::page`]) or a signed action ([`App::act`]).

use crate::{
    error::PortalError,
    layout::{self, View},
    peer::SameUserListener,
    reader::{BlockCache, Reader, Who},
    session::{self, Session},
    views::{self, PendingBreakGlass},
};
use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
};
use maud::Markup;
use medchain_client::{Client, WaitPolicy, keys::address_of};
use medchain_gateway::server::{Opened, ServerName, ServerThread};
use medchain_types::{Address, Payload, PrivateKey, TxId, keyfile::Wallet};
use std::{net::SocketAddr, sync::Arc};
use tokio::net::TcpListener;
use zeroize::Zeroizing;

/// What `medchain portal` starts the server with.
pub struct PortalConfig {
    /// A verifying client for the node the portal reads from and submits to.
    pub chain: Client,
    /// The user's chain key: signs the user's actions, never leaves this process.
    pub key: PrivateKey,
    /// The identity keys from enrolment (taka's encoding), to open the user's records.
    pub entity_keys: Option<Zeroizing<Vec<u8>>>,
    /// The key file's wallet (hospital enrolments, a doctor's licence).
    pub wallet: Wallet,
    /// Where to listen; must be a loopback address.
    pub listen: SocketAddr,
    /// How long an action waits for its transaction to be finalized.
    pub wait: WaitPolicy,
}

/// The shared state of every handler.
pub(crate) struct App {
    pub chain: Client,
    pub key: PrivateKey,
    pub address: Address,
    pub entity_keys: Option<Zeroizing<Vec<u8>>>,
    pub wallet: Wallet,
    pub session: Session,
    pub wait: WaitPolicy,
    /// Verified finalized blocks the explorer and the activity views already read.
    pub blocks: BlockCache,
    /// Break-glass requests waiting for their confirmation.
    pub break_glass: PendingBreakGlass,
    /// Where it listens (requests must name it in `Host`).
    listening: SocketAddr,
}

/// What a page route answers: a verified page, or a redirect to another route.
pub(crate) enum Answer {
    Page(View),
    Redirect(String),
}

/// A running portal; dropping it stops the server.
pub struct Portal {
    addr: SocketAddr,
    login_url: String,
    address: Address,
    server: ServerThread,
}

impl Portal {
    /// Binds the loopback address and serves the portal on its own thread and runtime.
    /// Returns once it is listening.
    pub fn start(config: PortalConfig) -> Result<Self, PortalError> {
        if !config.listen.ip().is_loopback() {
            return Err(PortalError::BadInput(format!(
                "the portal listens on loopback only ({} is not): it acts with your key for whoever can reach it",
                config.listen
            )));
        }
        let address = address_of(&config.key);
        let name = ServerName {
            thread: "medchain-portal",
            what: "portal",
        };
        let listen = config.listen;
        let (server, (addr, login_url)) =
            ServerThread::start(name, listen, move |listener, addr| async move {
                open(config, listener, addr)
            })?;
        Ok(Self {
            addr,
            login_url,
            address,
            server,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The login URL (it carries the session token, valid until the portal stops: give it to
    /// nobody).
    pub fn login_url(&self) -> &str {
        &self.login_url
    }

    /// The account of the key it acts with.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Serves until the process is stopped.
    pub fn join(self) {
        self.server.join();
    }
}

/// The app for the bound listener: a fresh session for its port, and the listener accepting
/// only the user's own processes.
fn open(
    config: PortalConfig,
    listener: TcpListener,
    addr: SocketAddr,
) -> Result<Opened<(SocketAddr, String), SameUserListener>, PortalError> {
    let session = Session::new(addr.port())
        .map_err(|e| PortalError::Internal(format!("no randomness for the session token: {e}")))?;
    let login_url = format!("http://{addr}/login?token={}", session.token());
    let app = Arc::new(App {
        address: address_of(&config.key),
        chain: config.chain,
        key: config.key,
        entity_keys: config.entity_keys,
        wallet: config.wallet,
        session,
        wait: config.wait,
        blocks: BlockCache::default(),
        break_glass: PendingBreakGlass::default(),
        listening: addr,
    });
    Ok(Opened {
        started: (addr, login_url),
        listener: SameUserListener::new(listener),
        router: router(app),
    })
}

/// Every route, behind the session guard, with the security headers.
pub(crate) fn router(app: Arc<App>) -> Router {
    views::routes()
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// Refuses a request with a foreign `Host`, or without the session cookie (except the login
/// route with the right token), and adds the security headers to every answer.
async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let mut response = if !session::host_allowed(host, app.listening) {
        (
            StatusCode::MISDIRECTED_REQUEST,
            "this portal answers only on its own loopback address",
        )
            .into_response()
    } else if session::sent_from_elsewhere(request.method(), request.headers()) {
        (
            StatusCode::FORBIDDEN,
            "this portal answers only its own pages (and links you follow to them), not requests another page makes",
        )
            .into_response()
    } else if request.uri().path() == "/login" {
        login(&app, request.uri().query().unwrap_or_default())
    } else if request
        .headers()
        .get(header::COOKIE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|cookie| app.session.cookie_matches(cookie))
    {
        next.run(request).await
    } else {
        let page = layout::error_page(
            None,
            "Not signed in",
            &PortalError::BadInput(
                "open the login URL `medchain portal` printed when it started (it carries this run's token)"
                    .into(),
            ),
        );
        (StatusCode::UNAUTHORIZED, page).into_response()
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// `GET /login?token=…`: sets the session cookie and goes home.
fn login(app: &App, query: &str) -> Response {
    let token = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(name, value)| (name == "token").then_some(value));
    match token {
        Some(token) if app.session.is_token(token) => {
            let mut response = Redirect::to("/").into_response();
            if let Ok(cookie) = HeaderValue::from_str(&app.session.set_cookie()) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        _ => {
            let page = layout::error_page(
                None,
                "Not signed in",
                &PortalError::BadInput(
                    "this login link is not the one this portal printed; copy the URL from its output".into(),
                ),
            );
            (StatusCode::UNAUTHORIZED, page).into_response()
        }
    }
}

impl App {
    /// Serves a page: who the key is, then `build`, every read verified. With `done` (the
    /// transaction an action just sent), the page opens with that transaction's verified
    /// outcome. Any failure is an error page, with no data.
    pub(crate) async fn page(
        self: Arc<Self>,
        done: Option<TxId>,
        build: impl FnOnce(&Reader<'_>, &Who, &App) -> Result<View, PortalError> + Send + 'static,
    ) -> Response {
        self.answer(done, move |reader, who, app| {
            build(reader, who, app).map(Answer::Page)
        })
        .await
    }

    /// [`App::page`] for a route that may instead send the browser elsewhere (a search with
    /// one match goes to the match's page).
    pub(crate) async fn answer(
        self: Arc<Self>,
        done: Option<TxId>,
        build: impl FnOnce(&Reader<'_>, &Who, &App) -> Result<Answer, PortalError> + Send + 'static,
    ) -> Response {
        let answer = tokio::task::spawn_blocking(move || {
            let reader = Reader::new(&self.chain);
            let who = match Who::read(&reader, self.address) {
                Ok(who) => who,
                Err(error) => return page_failed(None, &error),
            };
            let outcome = done.map(|id| views::tx_outcome(&reader, &id));
            match build(&reader, &who, &self) {
                Ok(Answer::Page(view)) => {
                    layout::verified_page(&who, &reader.seen(), outcome, view).into_response()
                }
                Ok(Answer::Redirect(to)) => Redirect::to(&to).into_response(),
                Err(error) => page_failed(Some(&who), &error),
            }
        })
        .await;
        answer.unwrap_or_else(|_| {
            page_failed(
                None,
                &PortalError::Internal("the page's worker stopped".into()),
            )
        })
    }

    /// Runs an action: checks the form's `csrf`, reads who the key is, then `build` makes the
    /// transaction's payload, which is signed and sent, waiting for its finality; success goes
    /// (303) to `back` showing the transaction's verified outcome, failure is an error page
    /// saying what to change.
    pub(crate) async fn act(
        self: Arc<Self>,
        csrf: &str,
        back: String,
        build: impl FnOnce(&Reader<'_>, &Who) -> Result<Payload, PortalError> + Send + 'static,
    ) -> Response {
        if let Err(forged) = self.check_csrf(csrf) {
            return page_failed(None, &forged);
        }
        let answer = tokio::task::spawn_blocking(move || {
            let reader = Reader::new(&self.chain);
            let who = Who::read(&reader, self.address).map_err(|error| (None, error))?;
            let sent = build(&reader, &who).and_then(|payload| {
                let signer = self.chain.signer(self.key.clone());
                Ok(signer.send(payload, Some(&self.wait))?.id)
            });
            // Boxed: a `Who` is large, and the error travels back through the task.
            sent.map_err(|error| (Some(Box::new(who)), error))
        })
        .await;
        match answer {
            Ok(Ok(id)) => Redirect::to(&format!("{back}?tx={id}")).into_response(),
            Ok(Err((who, error))) => action_failed(who.as_deref(), &back, &error),
            Err(_) => page_failed(
                None,
                &PortalError::Internal("the action's worker stopped".into()),
            ),
        }
    }

    /// Refuses a form whose `csrf` is not this run's: it did not come from the portal's own
    /// page.
    pub(crate) fn check_csrf(&self, csrf: &str) -> Result<(), PortalError> {
        if self.session.is_csrf(csrf) {
            Ok(())
        } else {
            Err(PortalError::BadInput(
                "the form did not come from this portal's page; reload the page and try again"
                    .into(),
            ))
        }
    }
}

/// An error page (nothing read for it shown) with the error's status.
pub(crate) fn page_failed(who: Option<&Who>, error: &PortalError) -> Response {
    (
        error.status(),
        layout::error_page(who, "This page cannot be shown", error),
    )
        .into_response()
}

fn action_failed(who: Option<&Who>, back: &str, error: &PortalError) -> Response {
    let body: Markup = maud::html! {
        main {
            h1 { "The action was not carried out" }
            (layout::outcome(false, maud::html! { p { (layout::said(error)) } }))
            (layout::error_panel(error))
            p { a href=(back) { "Back" } }
        }
    };
    (error.status(), layout::shell(who, "Action failed", body)).into_response()
}

#[cfg(test)]
impl App {
    /// An app for router tests (`tower::ServiceExt::oneshot` on [`router`]): reads through
    /// `chain`, acts with `key`, has a fresh session and answers as loopback port `port`.
    pub(crate) fn for_tests(chain: Client, key: PrivateKey, port: u16) -> Arc<Self> {
        Arc::new(Self {
            address: address_of(&key),
            chain,
            key,
            entity_keys: None,
            wallet: Wallet::default(),
            session: Session::new(port).expect("the operating system's randomness"),
            blocks: BlockCache::default(),
            break_glass: PendingBreakGlass::default(),
            wait: WaitPolicy::default(),
            listening: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use medchain_client::{LightClient, NodeClient};
    use medchain_types::{ChainId, Genesis, ValidatorInfo};
    use tower::ServiceExt as _;

    const PORT: u16 = 8480;

    /// A portal whose node is unreachable (port 9 on loopback is discard, closed here).
    fn app() -> Arc<App> {
        let validator = medchain_client::keys::generate();
        let genesis = Genesis {
            chain_id: ChainId::new("portal-test").unwrap(),
            genesis_time_ms: 0,
            regulator: address_of(&medchain_client::keys::generate()),
            validators: vec![ValidatorInfo {
                name: "v".into(),
                public_key: address_of(&validator),
            }],
            tokens: None,
            med: None,
        };
        App::for_tests(
            Client::new(
                NodeClient::new("http://127.0.0.1:9").unwrap(),
                LightClient::new(genesis).unwrap(),
            ),
            medchain_client::keys::generate(),
            PORT,
        )
    }

    fn get(path: &str, host: &str, cookie: Option<&str>) -> Request {
        let mut request = Request::builder().uri(path).header(header::HOST, host);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request.body(Body::empty()).unwrap()
    }

    async fn send(app: &Arc<App>, request: Request) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = router(app.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    fn host() -> String {
        format!("127.0.0.1:{PORT}")
    }

    #[tokio::test]
    async fn nothing_is_served_without_the_session_cookie() {
        let app = app();
        let (status, headers, body) = send(&app, get("/", &host(), None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.contains("login URL"), "{body}");
        assert!(headers.get(header::SET_COOKIE).is_none());
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        assert!(
            headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        let wrong = format!("{}={}", app.session.cookie_name(), "0".repeat(64));
        let (status, _, _) = send(&app, get("/assets/portal.css", &host(), Some(&wrong))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn a_foreign_host_is_refused_even_with_the_cookie() {
        let app = app();
        let cookie = format!("{}={}", app.session.cookie_name(), app.session.token());
        let (status, _, _) = send(&app, get("/", "evil.example:8480", Some(&cookie))).await;
        assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
        let login = format!("/login?token={}", app.session.token());
        let (status, headers, _) = send(&app, get(&login, "evil.example:8480", None)).await;
        assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
        assert!(headers.get(header::SET_COOKIE).is_none());
    }

    /// A request of this session's browser, saying where it comes from as browsers do.
    fn fetched(app: &App, method: &str, path: &str, site: &str, mode: &str, dest: &str) -> Request {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, host())
            .header(
                header::COOKIE,
                format!("{}={}", app.session.cookie_name(), app.session.token()),
            )
            .header("sec-fetch-site", site)
            .header("sec-fetch-mode", mode)
            .header("sec-fetch-dest", dest)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("csrf={}", app.session.csrf())))
            .unwrap()
    }

    /// Every port of 127.0.0.1 is one site to a browser, which sends the portal's cookie with
    /// the requests of a page another local program serves: only the portal's own pages, and
    /// links the user follows, are answered.
    #[tokio::test]
    async fn requests_another_page_makes_are_refused_even_with_the_cookie() {
        let app = app();
        for (method, path, site, mode, dest) in [
            ("GET", "/assets/portal.css", "same-site", "no-cors", "style"),
            ("GET", "/explorer", "same-site", "no-cors", "image"),
            ("GET", "/explorer", "same-site", "navigate", "iframe"),
            ("GET", "/explorer", "cross-site", "cors", "empty"),
            (
                "POST",
                "/regulator/orgs/x/suspend",
                "same-site",
                "navigate",
                "document",
            ),
            (
                "POST",
                "/patient/consents",
                "cross-site",
                "navigate",
                "document",
            ),
        ] {
            let (status, _, body) = send(&app, fetched(&app, method, path, site, mode, dest)).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{method} {path} from {site} ({mode}, {dest}): {body}"
            );
        }
        // The portal's own pages, and a link the user followed, are answered.
        for (site, mode, dest) in [
            ("same-origin", "no-cors", "style"),
            ("none", "navigate", "document"),
            ("same-site", "navigate", "document"),
        ] {
            let request = fetched(&app, "GET", "/assets/portal.css", site, mode, dest);
            let (status, _, _) = send(&app, request).await;
            assert_eq!(status, StatusCode::OK, "{site} {mode} {dest}");
        }
        let login = format!("/login?token={}", app.session.token());
        let framed = fetched(&app, "GET", &login, "same-site", "navigate", "iframe");
        let (status, headers, _) = send(&app, framed).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(headers.get(header::SET_COOKIE).is_none());
    }

    #[tokio::test]
    async fn only_the_printed_token_signs_in() {
        let app = app();
        let (status, headers, _) = send(&app, get("/login?token=abc", &host(), None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers.get(header::SET_COOKIE).is_none());

        let login = format!("/login?token={}", app.session.token());
        let (status, headers, _) = send(&app, get(&login, &host(), None)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_string();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        let pair = cookie.split(';').next().unwrap();
        let (status, headers, _) = send(&app, get("/assets/portal.css", &host(), Some(pair))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/css")
        );
    }

    #[tokio::test]
    async fn an_unreachable_node_is_an_error_page_not_data() {
        let app = app();
        let cookie = format!("{}={}", app.session.cookie_name(), app.session.token());
        let (status, _, body) = send(&app, get("/", &host(), Some(&cookie))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains(r#"id="error""#), "{body}");
        assert!(!body.contains("data-verified-height"), "{body}");
    }

    /// The status line of `GET path` sent to `addr` with `Host: host`, as a browser sends it.
    fn status_line(addr: SocketAddr, host: &str, path: &str) -> String {
        use std::io::{BufRead as _, BufReader, Write as _};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        line.trim_end().to_string()
    }

    /// Any loopback address may be listened on, and the login URL printed for it works there.
    #[test]
    fn the_printed_login_url_signs_in_on_any_loopback_address() {
        let app = app();
        for listen in ["127.0.0.2:0", "[::1]:0"] {
            let portal = Portal::start(PortalConfig {
                chain: app.chain.clone(),
                key: app.key.clone(),
                entity_keys: None,
                wallet: Wallet::default(),
                listen: listen.parse().unwrap(),
                wait: WaitPolicy::default(),
            })
            .unwrap();
            let url = portal.login_url().strip_prefix("http://").unwrap();
            let (host, path) = url.split_at(url.find('/').unwrap());
            assert_eq!(
                status_line(portal.addr(), host, path),
                "HTTP/1.1 303 See Other",
                "{listen}"
            );
            let other = format!("127.0.0.1:{}", portal.addr().port());
            assert!(
                status_line(portal.addr(), &other, path).starts_with("HTTP/1.1 421"),
                "{listen}: another address's name is not this portal's"
            );
        }
    }

    #[test]
    fn the_portal_refuses_to_listen_beyond_loopback() {
        let app = app();
        let config = PortalConfig {
            chain: app.chain.clone(),
            key: app.key.clone(),
            entity_keys: None,
            wallet: Wallet::default(),
            listen: "0.0.0.0:0".parse().unwrap(),
            wait: WaitPolicy::default(),
        };
        assert!(matches!(
            Portal::start(config),
            Err(PortalError::BadInput(_))
        ));
    }
}
