//! W8 files peer: tokio::fs from 64 local tasks on the current_thread runtime (tokio::fs
//! runs each call on Tokio's blocking thread pool), as bench/w8_files.c does with coio:
//!
//!   w8_files b DIR [N=10000]     DIR/b/fNNNNN: File::open, read (8 KiB buffer), drop -> files/s
//!   w8_files c DIR [OPS=200000]  random 4 KiB preads of DIR/w8.dat -> IOPS; tokio::fs has
//!                                no pread, so each is `spawn_blocking(read_at)`, which is
//!                                what tokio::fs does for its own calls
//!   w8_files d DIR [N=1000]      DIR/d/fNNNNN: File::create, write_all 64 KiB, sync_all -> files/s
//!
//! Prints one JSON line in w8_files.c's schema (impl "tokio", cpu_us_per_op).
use std::cell::Cell;
use std::os::unix::fs::FileExt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn cpu_s() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn die(what: &str, e: std::io::Error) -> ! {
    eprintln!("w8_files: {what}: {e}");
    std::process::exit(1)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 || !["b", "c", "d"].contains(&args[1].as_str()) {
        coio_bench_tokio::usage("usage: w8_files b|c|d DIR [N]");
    }
    let mode = args[1].clone();
    let dir = Rc::new(args[2].clone());
    let n = coio_bench_tokio::arg_u64(3, match mode.as_str() { "b" => 10000, "c" => 200000, _ => 1000 });
    let mut big = None;
    let mut blocks = 0u64;
    if mode == "c" {
        let f = std::fs::File::open(format!("{dir}/w8.dat")).unwrap_or_else(|e| die("w8.dat", e));
        blocks = f.metadata().unwrap().len() / 4096;
        big = Some(Arc::new(f));
    } else if mode == "d" {
        let _ = std::fs::create_dir(format!("{dir}/d"));
    }
    let next = Rc::new(Cell::new(0u64));
    let local = tokio::task::LocalSet::new();
    let (c0, t0) = (cpu_s(), Instant::now());
    local
        .run_until(async {
            let tasks: Vec<_> = (0..64u64)
                .map(|k| {
                    let (next, dir, mode, big) = (next.clone(), dir.clone(), mode.clone(), big.clone());
                    tokio::task::spawn_local(async move {
                        let mut rng = 0x9e37_79b9_7f4a_7c15u64.wrapping_add(k);
                        let mut buf = vec![0u8; 64 * 1024];
                        while next.get() < n {
                            let i = next.get();
                            next.set(i + 1);
                            match mode.as_str() {
                                "b" => {
                                    let p = format!("{dir}/b/f{i:05}");
                                    let mut f = tokio::fs::File::open(&p).await.unwrap_or_else(|e| die(&p, e));
                                    f.read(&mut buf[..8192]).await.unwrap_or_else(|e| die(&p, e));
                                }
                                "c" => {
                                    rng ^= rng << 13;
                                    rng ^= rng >> 7;
                                    rng ^= rng << 17;
                                    let off = (rng % blocks) * 4096;
                                    let f = big.clone().unwrap();
                                    let r = tokio::task::spawn_blocking(move || {
                                        let mut b = [0u8; 4096];
                                        f.read_at(&mut b, off)
                                    })
                                    .await
                                    .unwrap();
                                    match r {
                                        Ok(4096) => {}
                                        Ok(_) => die("pread", std::io::ErrorKind::UnexpectedEof.into()),
                                        Err(e) => die("pread", e),
                                    }
                                }
                                _ => {
                                    let p = format!("{dir}/d/f{i:05}");
                                    let mut f = tokio::fs::File::create(&p).await.unwrap_or_else(|e| die(&p, e));
                                    f.write_all(&buf).await.unwrap_or_else(|e| die(&p, e));
                                    f.sync_all().await.unwrap_or_else(|e| die(&p, e));
                                }
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        })
        .await;
    let (s, cpu) = (t0.elapsed().as_secs_f64(), cpu_s() - c0);
    let (w, m, u) = match mode.as_str() {
        "b" => ("W8b", "files_per_s_open_read_close", "files/s"),
        "c" => ("W8c", "iops", "ops/s"),
        _ => ("W8d", "files_per_s", "files/s"),
    };
    println!(
        "{{\"workload\":\"{w}\",\"impl\":\"tokio\",\"metric\":\"{m}\",\"value\":{:.6},\
         \"unit\":\"{u}\",\"n\":{n},\"cpu_us_per_op\":{:.3}}}",
        n as f64 / s,
        cpu * 1e6 / n as f64
    );
}
