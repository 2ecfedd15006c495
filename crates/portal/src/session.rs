//! Who may use the portal: the browser that opened the login URL.
//!
//! The portal signs with the user's key, so a request it serves is an act in the user's name.
//! Loopback alone does not make that safe: any local process, and any web page the user
//! visits, can send requests to 127.0.0.1. So:
//! - the login URL printed at start-up carries a fresh 256-bit token; visiting it sets an
//!   `HttpOnly`, `SameSite=Strict` cookie holding it, and every other route requires that
//!   cookie (compared in constant time) — other local users and other sites have no token;
//! - the `Host` header must name the portal's own loopback address, so a DNS-rebinding page
//!   (evil.example resolving to 127.0.0.1) is refused even though the browser thinks it is
//!   same-origin;
//! - every form carries a second random value (`csrf`) that a cross-site form cannot know;
//! - browsers share cookies between all the ports of a host, and count every port of
//!   127.0.0.1 as the same site, so `SameSite=Strict` does not keep a page served by any other
//!   local program (another user's included) from sending the cookie along with its image,
//!   script, frame or form requests. The browser says where a request comes from
//!   (`Sec-Fetch-Site`): anything but the portal's own pages, or a link the user followed, is
//!   refused ([`sent_from_elsewhere`]);
//! - responses forbid framing and off-origin scripts (`Content-Security-Policy`), are not
//!   cached, and send no `Referer` (the login URL must not leak into one).

use axum::http::{HeaderMap, Method};
use std::net::{IpAddr, SocketAddr};
use subtle::ConstantTimeEq as _;

/// One portal run's secrets.
pub(crate) struct Session {
    token: String,
    csrf: String,
    cookie: String,
}

impl Session {
    /// Fresh random secrets from the operating system, for the portal on `port`. The cookie's
    /// name carries the port: browsers share cookies across the ports of one host, and a
    /// patient's and a regulator's portal open side by side must not sign each other out.
    pub(crate) fn new(port: u16) -> Result<Self, getrandom::Error> {
        Ok(Self {
            token: random_hex()?,
            csrf: random_hex()?,
            cookie: format!("medchain_portal_{port}"),
        })
    }

    /// The cookie's name.
    pub(crate) fn cookie_name(&self) -> &str {
        &self.cookie
    }

    /// The login token (goes into the printed URL only).
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// The value every form carries.
    pub(crate) fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Whether `given` is this run's login token.
    pub(crate) fn is_token(&self, given: &str) -> bool {
        bool::from(self.token.as_bytes().ct_eq(given.as_bytes()))
    }

    /// Whether `given` is this run's form value.
    pub(crate) fn is_csrf(&self, given: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(given.as_bytes()))
    }

    /// Whether a `Cookie` header carries the session cookie with this run's token.
    pub(crate) fn cookie_matches(&self, header: &str) -> bool {
        header
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| name == self.cookie_name() && self.is_token(value))
    }

    /// The `Set-Cookie` value for a browser that presented the token.
    pub(crate) fn set_cookie(&self) -> String {
        format!(
            "{}={}; HttpOnly; SameSite=Strict; Path=/",
            self.cookie_name(),
            self.token
        )
    }
}

/// Whether a `Host` header names the portal's own listening address: its IP (any loopback
/// one) or `localhost`, with its port (which a browser leaves out when it is 80).
pub(crate) fn host_allowed(host: &str, listening: SocketAddr) -> bool {
    let port = listening.port();
    let ip = match listening.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    [ip.as_str(), "localhost"]
        .iter()
        .any(|name| host == format!("{name}:{port}") || (port == 80 && host == *name))
}

/// Whether the browser says a page of another origin made this request (any other site, or
/// another port of this host), other than by the user following a link to a page: an image,
/// script, `fetch`, frame or form of that page. Clients that do not say (older browsers, the
/// command line) are judged by the cookie and `csrf` alone.
pub(crate) fn sent_from_elsewhere(method: &Method, headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    match header("sec-fetch-site") {
        None | Some("same-origin" | "none") => false,
        Some(_) => {
            let followed_link = method == Method::GET
                && header("sec-fetch-mode") == Some("navigate")
                && header("sec-fetch-dest") == Some("document");
            !followed_link
        }
    }
}

fn random_hex() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_must_carry_this_runs_token() {
        let session = Session::new(8480).unwrap();
        let name = session.cookie_name();
        let header = format!("other=1; {name}={}", session.token());
        assert!(session.cookie_matches(&header));
        assert!(!session.cookie_matches(&format!("{name}=00")));
        assert!(!session.cookie_matches(&format!("x{name}={}", session.token())));
        let other = Session::new(8480).unwrap();
        assert!(!other.cookie_matches(&header));
        let next_port = Session::new(8481).unwrap();
        assert_ne!(next_port.cookie_name(), name);
    }

    #[test]
    fn only_loopback_names_of_our_port_are_hosts() {
        let at = |addr: &str| addr.parse::<SocketAddr>().unwrap();
        assert!(host_allowed("127.0.0.1:8080", at("127.0.0.1:8080")));
        assert!(host_allowed("localhost:8080", at("127.0.0.1:8080")));
        assert!(!host_allowed("127.0.0.1:8081", at("127.0.0.1:8080")));
        assert!(!host_allowed("evil.example:8080", at("127.0.0.1:8080")));
        assert!(!host_allowed("127.0.0.1", at("127.0.0.1:8080")));
        assert!(host_allowed("127.0.0.2:8080", at("127.0.0.2:8080")));
        assert!(host_allowed("[::1]:8080", at("[::1]:8080")));
        assert!(!host_allowed("::1:8080", at("[::1]:8080")));
        assert!(host_allowed("127.0.0.1", at("127.0.0.1:80")));
        assert!(host_allowed("localhost", at("127.0.0.1:80")));
        assert!(!host_allowed("evil.example", at("127.0.0.1:80")));
    }
}
