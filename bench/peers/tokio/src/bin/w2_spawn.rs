//! W2 spawn peer: `total` empty tasks made with tokio::spawn and awaited through their
//! JoinHandles, in batches or all at once.
//! Usage: w2_spawn batched|all [total=1000000] [batch=10000].
use coio_bench_tokio::{arg_u64, emit, rusage, usage};
use std::time::Instant;

async fn spawn_wait(n: u64) {
    let handles: Vec<_> = (0..n).map(|_| tokio::spawn(async { 0u64 })).collect();
    for h in handles {
        h.await.unwrap();
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    if mode != "batched" && mode != "all" {
        usage("usage: w2_spawn batched|all [total] [batch]");
    }
    let total = arg_u64(2, 1_000_000);
    let batch = arg_u64(3, 10_000);
    let chunk = if mode == "all" { total } else { batch };
    spawn_wait(chunk.min(1000)).await; // warm-up
    let t0 = Instant::now();
    let mut done = 0;
    while done < total {
        spawn_wait(chunk).await;
        done += chunk;
    }
    let secs = t0.elapsed().as_secs_f64();
    let (maxrss, _) = rusage();
    emit("W2", &format!("{mode}_tasks_per_s"), total as f64 / secs, "tasks/s", total);
    emit("W2", &format!("{mode}_peak_rss_mib"), maxrss as f64 / 1024.0, "MiB", total);
}
