//! W9 spawn peer: /bin/true run `total` times with `inflight` children at once through
//! tokio::process (`inflight` tasks, each `Command::status().await` in a loop; stdin,
//! stdout and stderr inherited as in the other implementations). `parent_mib` > 0 first
//! allocates that many MiB and touches each page, so the parent spawns with that much
//! resident memory. Usage: w9_spawn [total=2000] [inflight=16] [parent_mib=0].
use coio_bench_tokio::{arg_u64, emit};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;
use tokio::process::Command;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let total = arg_u64(1, 2000);
    let inflight = arg_u64(2, 16);
    let mib = arg_u64(3, 0) as usize;
    let mut ballast = vec![0u8; mib << 20]; // zero pages: not resident until written
    for i in (0..ballast.len()).step_by(4096) {
        // SAFETY: i is in bounds; volatile so that the stores are not elided
        unsafe { std::ptr::write_volatile(ballast.as_mut_ptr().add(i), (i >> 12) as u8 | 1) };
    }
    let started = Rc::new(Cell::new(0u64));
    let local = tokio::task::LocalSet::new();
    let t0 = Instant::now();
    local
        .run_until(async {
            let workers: Vec<_> = (0..inflight)
                .map(|_| {
                    let started = started.clone();
                    tokio::task::spawn_local(async move {
                        while started.get() < total {
                            started.set(started.get() + 1);
                            let st = Command::new("/bin/true").status().await;
                            match st {
                                Ok(s) if s.success() => {}
                                other => {
                                    eprintln!("w9_spawn: /bin/true: {other:?}");
                                    std::process::exit(1);
                                }
                            }
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await.unwrap();
            }
        })
        .await;
    let d = t0.elapsed();
    let metric = if mib > 0 { format!("spawn_per_s_{mib}mib") } else { "spawn_per_s".into() };
    emit("W9", &metric, total as f64 / d.as_secs_f64(), "proc/s", total);
    // SAFETY: reads back one byte, so the ballast stays alive (and written) until here
    if mib > 0 {
        let _ = unsafe { std::ptr::read_volatile(ballast.as_ptr()) };
    }
}
