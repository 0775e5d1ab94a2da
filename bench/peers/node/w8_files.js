// W8 files peer: fs.promises from 64 concurrent async loops (libuv runs each call on its
// thread pool, UV_THREADPOOL_SIZE 4 by default), as bench/w8_files.c does with coio:
//   node w8_files.js b DIR [N=10000]     DIR/b/fNNNNN: open, read (8 KiB buffer), close -> files/s
//   node w8_files.js c DIR [OPS=200000]  random 4 KiB reads at offsets of DIR/w8.dat -> IOPS
//   node w8_files.js d DIR [N=1000]      DIR/d/fNNNNN: open, write 64 KiB, sync, close -> files/s
// Prints one JSON line in w8_files.c's schema (impl "node", cpu_us_per_op).
'use strict';
const fsp = require('fs').promises;
const fs = require('fs');

const mode = process.argv[2];
const dir = process.argv[3];
if (!['b', 'c', 'd'].includes(mode) || !dir) {
  console.error('usage: node w8_files.js b|c|d DIR [N]');
  process.exit(2);
}
const n = Number(process.argv[4] || { b: 10000, c: 200000, d: 1000 }[mode]);
const pad = (i) => String(i).padStart(5, '0');

async function main() {
  let big = null;
  let blocks = 0n;
  if (mode === 'c') {
    big = await fsp.open(`${dir}/w8.dat`, 'r');
    blocks = BigInt((await big.stat()).size) / 4096n;
  } else if (mode === 'd') {
    fs.mkdirSync(`${dir}/d`, { recursive: true });
  }
  let next = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const worker = async (k) => {
    let rng = 0x9e3779b97f4a7c15n + BigInt(k);
    const M = (1n << 64n) - 1n;
    const buf = Buffer.alloc(64 * 1024, 1);
    while (next < n) {
      const i = next++;
      if (mode === 'b') {
        const f = await fsp.open(`${dir}/b/f${pad(i)}`, 'r');
        await f.read(buf, 0, 8192, null);
        await f.close();
      } else if (mode === 'c') {
        rng ^= (rng << 13n) & M;
        rng ^= rng >> 7n;
        rng ^= (rng << 17n) & M;
        const { bytesRead } = await big.read(buf, 0, 4096, Number((rng % blocks) * 4096n));
        if (bytesRead !== 4096) throw new Error('short read');
      } else {
        const f = await fsp.open(`${dir}/d/f${pad(i)}`, 'w', 0o600);
        await f.write(buf, 0, buf.length, null);
        await f.sync();
        await f.close();
      }
    }
  };
  await Promise.all(Array.from({ length: 64 }, (_, k) => worker(k)));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  const [w, m, u] = { b: ['W8b', 'files_per_s_open_read_close', 'files/s'],
    c: ['W8c', 'iops', 'ops/s'], d: ['W8d', 'files_per_s', 'files/s'] }[mode];
  console.log(JSON.stringify({ workload: w, impl: 'node', metric: m, value: +(n / s).toPrecision(6),
    unit: u, n, cpu_us_per_op: +((c.user + c.system) / n).toFixed(3) }));
  if (big) await big.close();
}
main().catch((e) => { console.error(`w8_files.js: ${e.message}`); process.exit(1); });
