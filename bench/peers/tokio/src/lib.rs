//! Shared by the Tokio peers: arguments, the JSON lines bench/run.sh reads, the W3 sleep
//! distribution, getrusage and the descriptor limit.

/// Argument `i` (1-based) as a number, `default` when absent; exits on a malformed one.
pub fn arg_u64(i: usize, default: u64) -> u64 {
    match std::env::args().nth(i) {
        None => default,
        Some(s) => s.parse().unwrap_or_else(|_| usage(&format!("not a number: {s}"))),
    }
}

pub fn usage(msg: &str) -> ! {
    eprintln!("{}: {msg}", std::env::args().next().unwrap_or_default());
    std::process::exit(2)
}

/// `v` rounded to 6 significant digits (printf's %.6g, as the other peers print).
fn g6(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let p = 10f64.powi(5 - v.abs().log10().floor() as i32);
    (v * p).round() / p
}

/// One result line in the schema of every peer.
pub fn emit(workload: &str, metric: &str, value: f64, unit: &str, n: u64) {
    println!(
        "{{\"workload\":\"{workload}\",\"impl\":\"tokio\",\"metric\":\"{metric}\",\
         \"value\":{},\"unit\":\"{unit}\",\"n\":{n}}}",
        g6(value)
    );
}

/// `n` durations in [0, 1) s from the fixed-seed xorshift64 of bench/bench_util.h.
pub fn durations(n: usize) -> Vec<std::time::Duration> {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 * (1.0 / 9007199254740992.0);
            std::time::Duration::from_nanos((u * 1e9) as u64)
        })
        .collect()
}

/// "n100k", "n1m": the label W3's metrics carry.
pub fn label(n: u64) -> String {
    if n % 1_000_000 == 0 {
        format!("n{}m", n / 1_000_000)
    } else if n % 1000 == 0 {
        format!("n{}k", n / 1000)
    } else {
        format!("n{n}")
    }
}

/// (peak resident KiB, minor faults) of the process so far.
pub fn rusage() -> (i64, i64) {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    (ru.ru_maxrss, ru.ru_minflt)
}

/// Raises the soft descriptor limit to the hard one (1,000 connections need it), as the
/// other servers do.
pub fn raise_nofile() {
    // SAFETY: plain system calls on a struct of ours.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 && rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

/// A listener on 127.0.0.1:`port` (0: a free one) with a 4096 backlog like the other
/// servers (TcpListener::bind's 1024 could drop some of 1,000 connects arriving at once);
/// prints "listening on 127.0.0.1:PORT", which the drivers wait for.
pub fn listen(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))?;
    let l = sock.listen(4096)?;
    println!("listening on {}", l.local_addr()?);
    Ok(l)
}

/// A yield that puts the task straight back at the end of the run queue: it wakes itself
/// and returns Pending once (what `tokio::task::yield_now` did before Tokio 1.23; since
/// then yield_now defers the wake-up until the scheduler has polled the I/O driver, an
/// epoll_wait per call when nothing else is runnable).
pub async fn yield_wake() {
    struct Y(bool);
    impl std::future::Future for Y {
        type Output = ();
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            if self.0 {
                return std::task::Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
    Y(false).await
}
