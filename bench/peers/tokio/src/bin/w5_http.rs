//! W5 HTTP peer: "Hello, World!" (text/plain) to every request, one task per connection
//! reading into a buffer and parsing the requests by hand, as the asyncio peer and coio's
//! http_hello do (hyper, which many Tokio users would reach for, is a further Debian package,
//! librust-hyper-dev: the peers build from librust-tokio-dev alone). Keep-alive for HTTP/1.1
//! unless "Connection: close", pipelined requests answered with one write per read,
//! Content-Length bodies skipped. Headers as coio's http_hello: Server, Date,
//! Content-Type, Content-Length.
//! Usage: w5_http [PORT] (default 0: a free port); prints "listening on 127.0.0.1:PORT".
use coio_bench_tokio::{arg_u64, listen, raise_nofile};
use tokio::net::TcpStream;

#[path = "../http.rs"]
mod http;
use http::serve;

async fn serve_tcp(s: TcpStream) {
    let _ = s.set_nodelay(true);
    serve(s, false).await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    raise_nofile();
    let l = listen(arg_u64(1, 0) as u16)?;
    loop {
        if let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve_tcp(s));
        }
    }
}
