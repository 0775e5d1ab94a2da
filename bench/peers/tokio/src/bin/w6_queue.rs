//! W6 queue peer: a producer task sends `items` integers through a tokio::sync::mpsc
//! channel of capacity 1 (Tokio has no rendezvous channel; asyncio.Queue(maxsize=1) is
//! this) to a consumer task. Usage: w6_queue [items=2000000].
use coio_bench_tokio::{arg_u64, emit};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

async fn round(items: u64) -> Duration {
    let (tx, mut rx) = mpsc::channel::<u64>(1);
    let t0 = Instant::now();
    let consumer = tokio::spawn(async move {
        let mut sum = 0u64;
        for _ in 0..items {
            sum += rx.recv().await.unwrap();
        }
        sum
    });
    let producer = tokio::spawn(async move {
        for i in 1..=items {
            tx.send(i).await.unwrap();
        }
    });
    producer.await.unwrap();
    let sum = consumer.await.unwrap();
    let d = t0.elapsed();
    assert_eq!(sum, items * (items + 1) / 2, "lost items");
    d
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n = arg_u64(1, 2_000_000);
    round(20_000).await; // warm-up
    let d = round(n).await;
    emit("W6", "items_per_s", n as f64 / d.as_secs_f64(), "items/s", n);
    emit("W6", "ns_per_item", d.as_nanos() as f64 / n as f64, "ns", n);
}
