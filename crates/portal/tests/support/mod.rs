//! A signed-in portal over HTTP, as a browser without scripts uses it: the login cookie, GETs
//! and POSTs (a form, or multipart/form-data) with it, redirects not followed, and the values
//! a page's forms carry. The portal's integration tests use it, and so do the workspace's
//! (`tests/common/portal.rs`), whatever runs the portal: in process or as `medchain portal`.

#![allow(dead_code)]

use medchain_client::{Client, WaitPolicy};
use medchain_portal::{Portal, PortalConfig};
use medchain_types::{PrivateKey, keyfile::Wallet};

/// The boundary of the multipart bodies [`PortalSession::post_multipart`] sends.
const BOUNDARY: &str = "medchain-portal-test";

/// A browser signed in to one portal, which it keeps running (`server`).
pub struct PortalSession<S> {
    pub server: S,
    agent: ureq::Agent,
    base: String,
    cookie: String,
}

/// Starts a portal in this process (on a free loopback port, no identity keys, an empty
/// wallet) acting with `key`, and signs in to it.
pub fn in_process(chain: &Client, key: &PrivateKey, wait: WaitPolicy) -> PortalSession<Portal> {
    let portal = Portal::start(PortalConfig {
        chain: chain.clone(),
        key: key.clone(),
        entity_keys: None,
        wallet: Wallet::default(),
        listen: "127.0.0.1:0".parse().unwrap(),
        wait,
    })
    .unwrap();
    let login_url = portal.login_url().to_string();
    PortalSession::sign_in(portal, &login_url)
}

/// An answer: status, `Location` and body.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl<S> PortalSession<S> {
    /// Opens `login_url` (`http://HOST:PORT/login?token=…`), which must answer with the session
    /// cookie; pages are then asked of `http://HOST:PORT`.
    pub fn sign_in(server: S, login_url: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into();
        let login = agent.get(login_url).call().expect("the login URL answers");
        assert_eq!(login.status(), 303, "the login redirects home");
        let cookie = login.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let base = login_url
            .split_once("/login")
            .unwrap_or_else(|| panic!("not a login URL: {login_url}"))
            .0
            .to_string();
        Self {
            server,
            agent,
            base,
            cookie,
        }
    }

    /// The URL of `path` on this portal.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> Page {
        let response = self
            .agent
            .get(self.url(path))
            .header("Cookie", &self.cookie)
            .call()
            .expect("GET");
        page(response)
    }

    /// Posts `fields` as a form (application/x-www-form-urlencoded).
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self
            .agent
            .post(self.url(path))
            .header("Cookie", &self.cookie)
            .send_form(fields.iter().copied())
            .expect("POST");
        page(response)
    }

    /// Posts `fields` as multipart/form-data (a field named `template` as a file).
    pub fn post_multipart(&self, path: &str, fields: &[(&str, &[u8])]) -> Page {
        let response = self
            .agent
            .post(self.url(path))
            .header("Cookie", &self.cookie)
            .header(
                "Content-Type",
                &format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .send(&multipart(BOUNDARY, fields)[..])
            .expect("POST");
        page(response)
    }
}

fn page(mut response: ureq::http::Response<ureq::Body>) -> Page {
    Page {
        status: response.status().as_u16(),
        location: response
            .headers()
            .get("location")
            .map(|value| value.to_str().unwrap().to_string()),
        body: response.body_mut().read_to_string().unwrap(),
    }
}

/// The value of the first `name="NAME" value="…"` on `page` (a form's hidden `csrf`, …).
pub fn field(page: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page.find(&marker)? + marker.len();
    Some(page[start..].split('"').next()?.to_string())
}

/// `fields` as a multipart/form-data body with `boundary`; a field named `template` is sent
/// as a file, as the emergency form's file picker sends it.
pub fn multipart(boundary: &str, fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        let file = if *name == "template" {
            "; filename=\"thumb.bin\"\r\ncontent-type: application/octet-stream"
        } else {
            ""
        };
        body.extend_from_slice(
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"{file}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}
