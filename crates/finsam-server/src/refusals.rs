//! hyper refuses a request head it cannot read — a URI over 64 KiB (414), header lines over its
//! buffer (431), bytes that are not HTTP/1.1 (400) — on its own, with an empty body, before any
//! handler or layer sees the request. Every other refusal of the service is an RFC 9457 problem
//! (`application/problem+json`); so that these are too, the connection's writes pass through
//! [`ProblemBodies`], which replaces exactly such an answer (a status hyper writes itself,
//! `connection: close`, `content-length: 0`, no content type) with the same status and a
//! problem body. Nothing else is touched: an answer of the service always has a content type.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose bare refusals get a problem body.
pub struct ProblemBodies<S> {
    inner: S,
    /// A replacement being written: its bytes, how many are written, and the length of what
    /// hyper asked to write (reported once the replacement is out).
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<S> ProblemBodies<S> {
    pub fn new(inner: S) -> ProblemBodies<S> {
        ProblemBodies { inner, pending: None }
    }
}

/// What the problem says for each status hyper answers itself.
fn detail(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "the request could not be read as HTTP/1.1",
        414 => "the address (URI) is too long: at most 65 534 bytes",
        431 => "the request's header lines are too long for the service to read",
        505 => "only HTTP/1.1 and HTTP/1.0 are served",
        _ => return None,
    })
}

/// The answer with a problem body that replaces `written`, when `written` is a whole bare
/// refusal of hyper's own.
pub fn with_problem_body(written: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(written).ok()?;
    let head = text.strip_suffix("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let rest = status_line.strip_prefix("HTTP/1.1 ")?;
    let (code, reason) = rest.split_once(' ')?;
    let status: u16 = code.parse().ok()?;
    let detail = detail(status)?;
    let headers: Vec<&str> = lines.collect();
    let has = |wanted: &str| headers.iter().any(|h| h.eq_ignore_ascii_case(wanted));
    let typed = headers.iter().any(|h| h.to_ascii_lowercase().starts_with("content-type:"));
    if !has("connection: close") || !has("content-length: 0") || typed {
        return None;
    }
    let body = format!(
        "{}\n",
        serde_json::json!({
            "type": "about:blank", "title": reason, "status": status, "detail": detail, "error": detail,
        })
    );
    let mut out = format!("{status_line}\r\ncontent-type: application/problem+json\r\n");
    for h in headers.iter().filter(|h| !h.to_ascii_lowercase().starts_with("content-length:")) {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    Some(out.into_bytes())
}

impl<S: AsyncWrite + Unpin> ProblemBodies<S> {
    /// Writes the pending replacement; ready with the length hyper asked to write.
    fn write_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some((bytes, done, asked)) = &mut self.pending else { return Poll::Ready(Ok(0)) };
        while *done < bytes.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *done += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let asked = *asked;
        self.pending = None;
        Poll::Ready(Ok(asked))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ProblemBodies<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ProblemBodies<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            if let Some(replacement) = with_problem_body(buf) {
                this.pending = Some((replacement, 0, buf.len()));
            }
        }
        if this.pending.is_some() {
            return this.write_pending(cx);
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // hyper's own refusal is one buffer (a head without a body).
        let only: Vec<&io::IoSlice<'_>> = bufs.iter().filter(|b| !b.is_empty()).collect();
        if this.pending.is_none() && only.len() == 1 {
            if let Some(replacement) = with_problem_body(only[0]) {
                this.pending = Some((replacement, 0, only[0].len()));
            }
        }
        if this.pending.is_some() {
            return this.write_pending(cx);
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pending.is_some() {
            if let Poll::Ready(Err(e)) = this.write_pending(cx) {
                return Poll::Ready(Err(e));
            }
            if this.pending.is_some() {
                return Poll::Pending;
            }
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_refusal_of_hypers_gets_a_problem_body() {
        let bare = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Sun, 06 Dec 2026 11:49:18 GMT\r\n\r\n";
        let out = String::from_utf8(with_problem_body(bare).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\ncontent-type: application/problem+json\r\n"), "{head}");
        assert!(head.contains("\r\nconnection: close\r\n") && head.contains("\r\ndate: Sun, 06 Dec 2026"), "{head}");
        assert!(head.ends_with(&format!("content-length: {}", body.len())), "{head}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["status"], 414);
        assert!(v["detail"].as_str().unwrap().contains("65 534"), "{v}");
    }

    #[test]
    fn answers_of_the_service_pass_untouched() {
        for answer in [
            // A refusal of the service: it has a content type.
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"[..],
            // The connection stays open.
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
            // A status hyper does not answer itself.
            b"HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            // A body follows.
            b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\nx",
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
        ] {
            assert!(with_problem_body(answer).is_none(), "{}", String::from_utf8_lossy(answer));
        }
    }
}
