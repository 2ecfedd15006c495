//! Only the user's own processes may connect.
//!
//! The session cookie is not enough on its own: browsers send a cookie for 127.0.0.1 to every
//! port of 127.0.0.1, so a page served by any local program the user visits (another user's
//! server on a loopback port, say) receives the portal's token, and that program could then use
//! it. What such a program cannot do is connect *as the user*: on Linux the kernel records the
//! owner of each socket (`/proc/net/tcp`, `/proc/net/tcp6`), so the portal looks up the client
//! end of every connection it accepts and drops it unless its owner is the portal's own user.
//! The user's own processes can read the key file anyway, so they gain nothing from the token.
//!
//! Elsewhere than Linux there is no such table; the portal then says at start-up that it relies
//! on the cookie alone.

use axum::serve::Listener;
use std::{io, net::SocketAddr};
use tokio::net::{TcpListener, TcpStream};

/// A loopback listener that accepts only connections whose client socket belongs to this
/// process's user.
pub(crate) struct SameUserListener {
    inner: TcpListener,
}

impl SameUserListener {
    pub(crate) fn new(inner: TcpListener) -> Self {
        if !peer_owners_known() {
            tracing::warn!(
                "this system shows no socket owners: the portal cannot refuse other users' connections and relies on the login cookie alone"
            );
        }
        Self { inner }
    }
}

impl Listener for SameUserListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, peer) = Listener::accept(&mut self.inner).await;
            let listening = match stream.local_addr() {
                Ok(listening) => listening,
                Err(error) => {
                    tracing::warn!(%peer, %error, "dropped a connection without a local address");
                    continue;
                }
            };
            match same_user(peer, listening) {
                Ok(true) => return (stream, peer),
                Ok(false) => {
                    tracing::warn!(%peer, "refused a connection from another user's process");
                }
                Err(error) => {
                    tracing::warn!(%peer, %error, "refused a connection whose owner is unknown");
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Whether the client socket `peer`, connected to our `listening` address, belongs to this
/// process's user. An error when the socket is not found: the caller refuses (fail closed).
#[cfg(target_os = "linux")]
pub(crate) fn same_user(peer: SocketAddr, listening: SocketAddr) -> Result<bool, PeerError> {
    let me = procfs::process::Process::myself()
        .and_then(|process| process.uid())
        .map_err(|error| PeerError(format!("this process's user: {error}")))?;
    let table = match peer {
        SocketAddr::V4(_) => procfs::net::tcp(),
        SocketAddr::V6(_) => procfs::net::tcp6(),
    }
    .map_err(|error| PeerError(format!("the socket table: {error}")))?;
    table
        .iter()
        .find(|entry| entry.local_address == peer && entry.remote_address == listening)
        .map(|entry| entry.uid == me)
        .ok_or_else(|| PeerError(format!("no socket {peer} → {listening} in the table")))
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn same_user(_: SocketAddr, _: SocketAddr) -> Result<bool, PeerError> {
    Ok(true)
}

fn peer_owners_known() -> bool {
    cfg!(target_os = "linux")
}

/// Why a connection's owner could not be told.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct PeerError(String);

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn our_own_connection_is_ours_and_an_unknown_one_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listening = listener.local_addr().unwrap();
        let client = TcpStream::connect(listening).await.unwrap();
        let (_, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(same_user(peer, listening).unwrap());
        // A client socket the kernel does not know (closed, or never there): refused.
        let nowhere = SocketAddr::from(([127, 0, 0, 1], 9));
        assert!(same_user(nowhere, listening).is_err());
    }

    /// The refusal that matters, with a real second user: root runs a client as `nobody`
    /// (`setpriv`), whose connection the listener drops while our own gets through. Needs root
    /// to switch users; as another user the test says so and checks only our own connection.
    #[tokio::test]
    async fn another_users_connection_is_dropped() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listening = listener.local_addr().unwrap();
        let mut accepting = SameUserListener::new(listener);
        let as_root = procfs::process::Process::myself().unwrap().uid().unwrap() == 0;
        if as_root {
            // `nobody` connects, then holds the socket open for a while.
            let mut stranger = std::process::Command::new("setpriv")
                .args([
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    "bash",
                    "-c",
                ])
                .arg(format!(
                    "exec 3<>/dev/tcp/127.0.0.1/{}; sleep 5",
                    listening.port()
                ))
                .spawn()
                .expect("setpriv (util-linux) and bash");
            // The stranger's connection is in the kernel's accept queue before ours: the
            // listener must pass over it.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !procfs::net::tcp()
                .unwrap()
                .iter()
                .any(|entry| entry.remote_address == listening && entry.uid == 65534)
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "nobody's client never connected"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            let mine = tokio::time::timeout(std::time::Duration::from_secs(2), async {
                let client = TcpStream::connect(listening).await.unwrap();
                let (_, peer) = Listener::accept(&mut accepting).await;
                (client, peer)
            })
            .await
            .expect("our own connection is accepted");
            assert_eq!(mine.1, mine.0.local_addr().unwrap());
            let _ = stranger.kill();
            let _ = stranger.wait();
        } else {
            eprintln!("not root: cannot connect as another user; checking our own connection only");
            let client = TcpStream::connect(listening).await.unwrap();
            let (_, peer) = Listener::accept(&mut accepting).await;
            assert_eq!(peer, client.local_addr().unwrap());
        }
    }
}
