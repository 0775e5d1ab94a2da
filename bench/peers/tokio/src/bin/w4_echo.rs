//! W4 echo peer: one task per connection looping read / write_all on a 64 KiB buffer,
//! TCP_NODELAY set as every other server does.
//! Usage: w4_echo PORT (0: a free port; prints "listening on 127.0.0.1:PORT").
use coio_bench_tokio::{arg_u64, listen, raise_nofile};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn echo(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let mut buf = vec![0u8; 65536];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if s.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    raise_nofile();
    let l = listen(arg_u64(1, 0) as u16)?;
    loop {
        if let Ok((s, _)) = l.accept().await {
            tokio::spawn(echo(s)); // an accept error (EMFILE...): keep serving
        }
    }
}
