//! W10 HTTPS peer: "Hello, World!" (text/plain) over TLS 1.3 with tokio-rustls, one task
//! per connection on the current_thread runtime, the requests parsed by hand by W5's
//! Tokio server code (bench/peers/tokio/src/http.rs): keep-alive for HTTP/1.1 unless
//! "Connection: close", after which the server sends its close_notify and closes.
//! Stateless session tickets (rustls's Ticketer), as coio's, nginx's and Go's servers send
//! tickets too. Usage: w10_https CERT KEY (PEM; the key PKCS#8, as `openssl req -newkey`
//! writes it); prints "listening on https://127.0.0.1:PORT".
use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;
use tokio_rustls::rustls;

#[path = "../../tokio/src/http.rs"]
mod http;
#[path = "../../tokio/src/lib.rs"]
#[allow(dead_code)]
mod peer;
use http::serve;

fn tls_config(cert: &str, key: &str) -> Result<rustls::ServerConfig, String> {
    let open = |p: &str| File::open(p).map(BufReader::new).map_err(|e| format!("{p}: {e}"));
    let certs: Vec<rustls::Certificate> = rustls_pemfile::certs(&mut open(cert)?)
        .map_err(|e| format!("{cert}: {e}"))?
        .into_iter()
        .map(rustls::Certificate)
        .collect();
    if certs.is_empty() {
        return Err(format!("{cert}: no certificate"));
    }
    let mut r = open(key)?;
    let key_der = loop {
        match rustls_pemfile::read_one(&mut r).map_err(|e| format!("{key}: {e}"))? {
            Some(rustls_pemfile::Item::PKCS8Key(k) | rustls_pemfile::Item::ECKey(k)) => break k,
            Some(rustls_pemfile::Item::RSAKey(k)) => break k,
            Some(_) => continue,
            None => return Err(format!("{key}: no private key")),
        }
    };
    let mut cfg = rustls::ServerConfig::builder()
        .with_safe_default_cipher_suites()
        .with_safe_default_kx_groups()
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, rustls::PrivateKey(key_der))
        .map_err(|e| format!("{key}: {e}"))?;
    cfg.ticketer = rustls::Ticketer::new().map_err(|e| e.to_string())?;
    Ok(cfg)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        peer::usage("usage: w10_https CERT KEY");
    }
    let cfg = tls_config(&args[1], &args[2]).unwrap_or_else(|e| {
        eprintln!("w10_https: {e}");
        std::process::exit(1)
    });
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    peer::raise_nofile();
    let sock = tokio::net::TcpSocket::new_v4()
        .and_then(|s| {
            s.set_reuseaddr(true)?;
            s.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))?;
            s.listen(4096)
        })
        .unwrap_or_else(|e| {
            eprintln!("w10_https: {e}");
            std::process::exit(1)
        });
    match sock.local_addr() {
        Ok(a) => println!("listening on https://{a}"),
        Err(e) => {
            eprintln!("w10_https: {e}");
            std::process::exit(1)
        }
    }
    loop {
        if let Ok((s, _)) = sock.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = s.set_nodelay(true);
                if let Ok(t) = acceptor.accept(s).await {
                    serve(t, true).await; // close_notify on "Connection: close"
                }
            });
        }
    }
}
