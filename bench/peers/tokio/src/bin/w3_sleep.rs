//! W3 sleepers peer: n tasks each sleeping (tokio::time::sleep) a [0, 1) s duration from
//! the shared fixed-seed xorshift64, awaited through their JoinHandles.
//! Usage: w3_sleep [n=100000].
use coio_bench_tokio::{arg_u64, durations, emit, label, rusage};
use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n = arg_u64(1, 100_000);
    let dur = durations(n as usize);
    let (rss0, flt0) = rusage();
    let t0 = Instant::now();
    let handles: Vec<_> = dur.into_iter().map(|d| tokio::spawn(tokio::time::sleep(d))).collect();
    for h in handles {
        h.await.unwrap();
    }
    let wall = t0.elapsed().as_secs_f64();
    let (rss1, flt1) = rusage();
    let lb = label(n);
    emit("W3", &format!("{lb}_wall_s"), wall, "s", n);
    emit("W3", &format!("{lb}_rss_kib_per_task"), (rss1 - rss0) as f64 / n as f64, "KiB", n);
    emit("W3", &format!("{lb}_minflt_per_task"), (flt1 - flt0) as f64 / n as f64, "faults", n);
}
