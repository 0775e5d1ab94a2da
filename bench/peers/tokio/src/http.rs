//! HTTP/1.1 of the Tokio servers (W5's w5_http and W10's w10_https in
//! bench/peers/tokio_tls, which includes this file by path): requests parsed by hand, as
//! the asyncio peer and coio's http_hello do (hyper, which many Tokio users would reach
//! for, is a further Debian package, librust-hyper-dev). "Hello, World!" (text/plain) to
//! every request; keep-alive for HTTP/1.1 unless "Connection: close"; pipelined requests
//! answered together; Content-Length bodies skipped. Headers as coio's http_hello: Server,
//! Date, Content-Type, Content-Length.
use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const BODY: &[u8] = b"Hello, World!";

/// RFC 7231 date of `secs` since the epoch ("Sun, 06 Nov 1994 08:49:37 GMT").
fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // civil date from days since 1970-01-01 (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

thread_local! {
    // (second, status line and headers up to Content-Length): the Date changes once a
    // second, so it is formatted once a second
    static HEAD: RefCell<(u64, Vec<u8>)> = RefCell::new((u64::MAX, Vec::new()));
}

fn push_head(out: &mut Vec<u8>) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    HEAD.with(|h| {
        let mut h = h.borrow_mut();
        if h.0 != now {
            h.0 = now;
            h.1 = format!(
                "HTTP/1.1 200 OK\r\nServer: tokio\r\nDate: {}\r\nContent-Type: text/plain\r\n\
                 Content-Length: {}\r\n",
                http_date(now),
                BODY.len()
            )
            .into_bytes();
        }
        out.extend_from_slice(&h.1);
    });
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Answers every complete request at the start of `buf` into `out` and drops them from
/// `buf`; returns whether the connection is to be closed after `out` is written.
pub fn answer(buf: &mut Vec<u8>, skip: &mut usize, out: &mut Vec<u8>) -> bool {
    let mut at = 0;
    let mut close = false;
    loop {
        if *skip > 0 {
            let n = (*skip).min(buf.len() - at);
            at += n;
            *skip -= n;
            if *skip > 0 {
                break;
            }
        }
        let end = match find(&buf[at..], b"\r\n\r\n") {
            Some(e) => at + e,
            None => break,
        };
        let mut lines = buf[at..end].split(|&c| c == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let first = lines.next().unwrap_or(b"");
        let head = first.starts_with(b"HEAD ");
        let mut keep = first.ends_with(b"HTTP/1.1");
        for line in lines {
            let colon = match line.iter().position(|&c| c == b':') {
                Some(c) => c,
                None => continue,
            };
            let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
            if name.eq_ignore_ascii_case(b"connection") {
                if value.eq_ignore_ascii_case(b"close") {
                    keep = false;
                } else if value.eq_ignore_ascii_case(b"keep-alive") {
                    keep = true;
                }
            } else if name.eq_ignore_ascii_case(b"content-length") {
                *skip = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()).unwrap_or(0);
            }
        }
        at = end + 4;
        push_head(out);
        out.extend_from_slice(if keep { b"\r\n" } else { b"Connection: close\r\n\r\n" });
        if !head {
            out.extend_from_slice(BODY);
        }
        if !keep {
            close = true;
            break;
        }
    }
    buf.drain(..at);
    close
}

/// Serves one connection: reads into a buffer and answers what it holds with one write,
/// until the client closes, an error, or a "Connection: close" request, after which
/// `shutdown` says whether to shut the write side down before the drop closes it (for
/// TLS: the close_notify).
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, shutdown: bool) {
    let mut buf = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(4096);
    let mut skip = 0;
    loop {
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        match s.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let close = answer(&mut buf, &mut skip, &mut out);
        if !out.is_empty() {
            if s.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if close {
            if shutdown {
                let _ = s.shutdown().await;
            }
            return;
        }
    }
}
