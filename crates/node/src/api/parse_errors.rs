//! JSON bodies for the answers hyper writes on its own. A request hyper cannot even parse —
//! a URL over its fixed 64 KiB limit (414), a head over its buffer (431), a garbled request
//! line (400) — never reaches the router: hyper answers it with a bare status line and an
//! empty body, then closes the connection. hyper offers no hook for those answers, so each
//! connection's writes pass through [`JsonParseErrors`], which replaces exactly such an answer
//! (a 400, 414 or 431 head with `content-length: 0`; every answer of this API's own carries a
//! JSON body) with the same status and the API's usual `{"error", "message", "hint"}` body.

use axum::serve::Listener;
use medchain_api::ErrorBody;
use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};

/// A TCP listener whose connections get JSON bodies on hyper's own error answers.
pub struct JsonParseErrorsListener(pub TcpListener);

impl Listener for JsonParseErrorsListener {
    type Io = JsonParseErrors<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, address) = Listener::accept(&mut self.0).await;
        (JsonParseErrors::new(io), address)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Listener::local_addr(&self.0)
    }
}

/// One connection; see the module docs.
pub struct JsonParseErrors<S> {
    inner: S,
    /// The JSON answer being written in place of hyper's bare one, and how much of it is out.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<S> JsonParseErrors<S> {
    /// Wraps a connection.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            replacement: None,
        }
    }
}

/// The JSON answer replacing `head` when it is one of hyper's bare error answers.
fn replacement_for(head: &[u8]) -> Option<Vec<u8>> {
    let (status, error, message, hint) = if head.starts_with(b"HTTP/1.1 414 ") {
        (
            "414 URI Too Long",
            "uri_too_long",
            "the request's URL is longer than 65534 bytes",
            "no route takes a URL anywhere near that long; see /openapi.json",
        )
    } else if head.starts_with(b"HTTP/1.1 431 ") {
        (
            "431 Request Header Fields Too Large",
            "headers_too_large",
            "the request's head (URL and headers) is larger than the node reads",
            "send a shorter URL and fewer, smaller headers",
        )
    } else if head.starts_with(b"HTTP/1.1 400 ") {
        (
            "400 Bad Request",
            "bad_request",
            "the request is not valid HTTP/1.1 (request line or headers)",
            "send a well-formed HTTP request; the routes are listed at /openapi.json",
        )
    } else {
        return None;
    };
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    if !text.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let body = serde_json::to_string(&ErrorBody {
        error: error.into(),
        message: message.into(),
        hint: hint.into(),
    })
    .ok()?;
    Some(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonParseErrors<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacement.is_none() {
            match replacement_for(buf) {
                Some(bytes) => this.replacement = Some((bytes, 0)),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        let Some((bytes, written)) = &mut this.replacement else {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        };
        // hyper sees its whole head accepted only once the replacement is out; it writes
        // nothing after an error answer but closes the connection.
        while *written < bytes.len() {
            match Pin::new(&mut this.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(count)) => *written += count,
                other => return other,
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bare_error_answers_are_replaced() {
        let bare = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let replaced = String::from_utf8(replacement_for(bare).unwrap()).unwrap();
        assert!(replaced.starts_with("HTTP/1.1 414 URI Too Long\r\n"));
        let body: ErrorBody =
            serde_json::from_str(replaced.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body.error, "uri_too_long");
        // The API's own answers carry a body, and success is never touched.
        let own = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 61\r\n\r\n";
        assert!(replacement_for(own).is_none());
        assert!(replacement_for(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(replacement_for(b"{\"partial\": \"body").is_none());
    }
}
