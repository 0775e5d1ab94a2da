//! W1 switch peer: two tasks hand control to each other on the current_thread runtime.
//! A switch is one hand-off; the two tasks make `switches` of them in total.
//!
//!   w1_switch notify [switches=5000000]     ping-pong over two tokio::sync::Notify: each
//!       task notifies the other and awaits its own. The fair switch, and the one W1's
//!       target compares with: metric ns_per_switch.
//!   w1_switch yield_now [switches=500000]   both tasks loop on tokio::task::yield_now,
//!       which since Tokio 1.23 wakes the task only after the scheduler has polled the I/O
//!       driver (an epoll_wait per two switches here): ns_per_switch_yield_now.
//!   w1_switch wake [switches=5000000]       both tasks loop on a yield that wakes itself
//!       and returns Pending once (the scheduler alone): ns_per_switch_wake.
use coio_bench_tokio::{arg_u64, emit, usage, yield_wake};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

async fn notify_round(switches: u64) -> (Duration, u64) {
    let per = switches / 2;
    let (a, b) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (a2, b2) = (a.clone(), b.clone());
    let t0 = Instant::now();
    let ping = tokio::spawn(async move {
        for _ in 0..per {
            b2.notify_one();
            a2.notified().await;
        }
    });
    let pong = tokio::spawn(async move {
        for _ in 0..per {
            b.notified().await;
            a.notify_one();
        }
    });
    ping.await.unwrap();
    pong.await.unwrap();
    (t0.elapsed(), per * 2)
}

async fn yield_round(switches: u64, now: bool) -> (Duration, u64) {
    let per = switches / 2;
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(async move {
                for _ in 0..per {
                    if now {
                        tokio::task::yield_now().await;
                    } else {
                        yield_wake().await;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (t0.elapsed(), per * 2)
}

async fn round(mode: &str, switches: u64) -> (Duration, u64) {
    match mode {
        "notify" => notify_round(switches).await,
        "yield_now" => yield_round(switches, true).await,
        _ => yield_round(switches, false).await,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let (metric, default) = match mode.as_str() {
        "notify" => ("ns_per_switch", 5_000_000),
        "yield_now" => ("ns_per_switch_yield_now", 500_000),
        "wake" => ("ns_per_switch_wake", 5_000_000),
        _ => usage("usage: w1_switch notify|yield_now|wake [switches]"),
    };
    let n = arg_u64(2, default);
    round(&mode, 20_000).await; // warm-up
    let (d, sw) = round(&mode, n).await;
    emit("W1", metric, d.as_nanos() as f64 / sw as f64, "ns", sw);
}
