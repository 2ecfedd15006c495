//! An HTTP server on its own thread and Tokio runtime, for callers that are not async (the
//! `medchain` commands, blocking tests): the gateway's API and the portal both run on it.

use axum::{Router, serve::Listener};
use std::{
    future::Future,
    io,
    net::SocketAddr,
    sync::mpsc,
    thread::{self, JoinHandle},
};
use tokio::{net::TcpListener, sync::oneshot};

/// Why a server did not start (each server reports it as its own internal error).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The server's thread could not be spawned.
    #[error("cannot start the {what}: {source}")]
    Thread {
        what: &'static str,
        source: io::Error,
    },
    /// The thread's Tokio runtime could not be built.
    #[error("cannot start a runtime: {0}")]
    Runtime(io::Error),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: io::Error },
    /// The thread ended before it said it was serving.
    #[error("the {what} stopped while starting")]
    Stopped { what: &'static str },
}

/// What a server is called: its thread's name, and the noun its errors and logs use.
#[derive(Clone, Copy)]
pub struct ServerName {
    pub thread: &'static str,
    pub what: &'static str,
}

/// What a server's `open` step hands over: what [`ServerThread::start`] returns to its caller
/// (the address, a URL…), and the router to serve on the listener.
pub struct Opened<T, L> {
    pub started: T,
    pub listener: L,
    pub router: Router,
}

/// A running server; dropping it stops the server (requests in flight finish first).
pub struct ServerThread {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Spawns the thread, builds its runtime, binds `listen`, and runs `open` on the runtime
    /// with the bound listener and its address; then serves `open`'s router until dropped.
    /// Returns once it is serving, with `open`'s `started`, or `open`'s error.
    pub fn start<T, E, L, F, Fut>(
        name: ServerName,
        listen: SocketAddr,
        open: F,
    ) -> Result<(Self, T), E>
    where
        T: Send + 'static,
        E: From<StartError> + Send + 'static,
        L: Listener<Addr: std::fmt::Debug>,
        F: FnOnce(TcpListener, SocketAddr) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Opened<T, L>, E>>,
    {
        let (ready, started) = mpsc::channel::<Result<T, E>>();
        let (shutdown, stop) = oneshot::channel();
        let thread = thread::Builder::new()
            .name(name.thread.into())
            .spawn(move || serve(name.what, listen, open, ready, stop))
            .map_err(|source| StartError::Thread {
                what: name.what,
                source,
            })?;
        let started = started
            .recv()
            .map_err(|_| StartError::Stopped { what: name.what })??;
        let server = Self {
            shutdown: Some(shutdown),
            thread: Some(thread),
        };
        Ok((server, started))
    }

    /// Blocks until the server stops (it stops only when dropped, so this is for a process
    /// that serves until it is killed).
    pub fn join(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The server thread: a runtime, the listener bound and `open`ed, then the router until
/// `stop`. Every failure before serving is sent on `ready`.
fn serve<T, E, L, F, Fut>(
    what: &'static str,
    listen: SocketAddr,
    open: F,
    ready: mpsc::Sender<Result<T, E>>,
    stop: oneshot::Receiver<()>,
) where
    E: From<StartError>,
    L: Listener<Addr: std::fmt::Debug>,
    F: FnOnce(TcpListener, SocketAddr) -> Fut,
    Fut: Future<Output = Result<Opened<T, L>, E>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = ready.send(Err(StartError::Runtime(e).into()));
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match TcpListener::bind(listen).await {
            Ok(listener) => listener,
            Err(source) => {
                let _ = ready.send(Err(StartError::Listen {
                    addr: listen,
                    source,
                }
                .into()));
                return;
            }
        };
        let addr = listener.local_addr().unwrap_or(listen);
        let opened = match open(listener, addr).await {
            Ok(opened) => opened,
            Err(error) => {
                let _ = ready.send(Err(error));
                return;
            }
        };
        let _ = ready.send(Ok(opened.started));
        let served = axum::serve(opened.listener, opened.router)
            .with_graceful_shutdown(async {
                let _ = stop.await;
            })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "{what} server failed");
        }
    });
}
