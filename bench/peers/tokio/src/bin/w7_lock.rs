//! W7 lock peer: `tasks` tasks (default 100) make `acquisitions` acquisitions of one
//! tokio::sync::Mutex in total, each holding it across one yield, so the others queue on
//! it and each unlock hands it to the next waiter (Tokio's Mutex is FIFO).
//!
//!   w7_lock wake [acquisitions=1000000] [tasks=100]       the yield wakes itself and
//!       returns Pending once (the scheduler alone, as coio_yield and Gosched are): the
//!       one W7's target compares with; metrics acquisitions_per_s, ns_per_acquisition.
//!   w7_lock yield_now [acquisitions=200000] [tasks=100]   tokio::task::yield_now, which
//!       since Tokio 1.23 waits for a poll of the I/O driver (here an epoll_wait per
//!       acquisition, as no other task is runnable): the same metrics + "_yield_now".
use coio_bench_tokio::{arg_u64, emit, usage, yield_wake};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

async fn round(acquisitions: u64, tasks: u64, now: bool) -> (Duration, u64) {
    let lock = Arc::new(Mutex::new(0u64));
    let per = acquisitions / tasks;
    let t0 = Instant::now();
    let inside = Arc::new(AtomicU64::new(0)); // tasks in the critical section: must stay 1
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (lock, inside) = (lock.clone(), inside.clone());
            tokio::spawn(async move {
                for _ in 0..per {
                    let mut total = lock.lock().await;
                    assert_eq!(inside.fetch_add(1, Ordering::Relaxed), 0);
                    *total += 1;
                    if now {
                        tokio::task::yield_now().await;
                    } else {
                        yield_wake().await;
                    }
                    inside.fetch_sub(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    let d = t0.elapsed();
    let done = *lock.lock().await;
    (d, done)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let (suffix, default, now) = match mode.as_str() {
        "wake" => ("", 1_000_000, false),
        "yield_now" => ("_yield_now", 200_000, true),
        _ => usage("usage: w7_lock wake|yield_now [acquisitions] [tasks]"),
    };
    let n = arg_u64(2, default);
    let tasks = arg_u64(3, 100).max(1);
    round(20_000, tasks, now).await; // warm-up
    let (d, done) = round(n, tasks, now).await;
    emit("W7", &format!("acquisitions_per_s{suffix}"), done as f64 / d.as_secs_f64(), "acq/s", done);
    emit("W7", &format!("ns_per_acquisition{suffix}"), d.as_nanos() as f64 / done as f64, "ns", done);
}
