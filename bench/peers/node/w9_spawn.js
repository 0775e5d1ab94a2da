// W9 spawn peer: /bin/true run TOTAL times with INFLIGHT children at once through
// child_process.spawn (each 'exit' starts the next), stdin, stdout and stderr inherited
// as in the other implementations. PARENT_MIB > 0 first allocates a Buffer of that many
// MiB and fills it, so the parent spawns with that much resident memory.
// Usage: node w9_spawn.js [TOTAL=2000] [INFLIGHT=16] [PARENT_MIB=0]
'use strict';
const { spawn } = require('child_process');

const total = Number(process.argv[2] || 2000);
const inflight = Number(process.argv[3] || 16);
const mib = Number(process.argv[4] || 0);
const ballast = mib > 0 ? Buffer.alloc(mib * 1048576, 1) : null; // filled: every page touched

let started = 0;
let done = 0;
const t0 = process.hrtime.bigint();

function next() {
  if (started >= total) return;
  started++;
  const c = spawn('/bin/true', [], { stdio: 'inherit' });
  c.on('error', (e) => {
    console.error(`w9_spawn.js: ${e.message}`);
    process.exit(1);
  });
  c.on('exit', (code) => {
    if (code !== 0) {
      console.error(`w9_spawn.js: /bin/true exited ${code}`);
      process.exit(1);
    }
    if (++done === total) {
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      const metric = mib > 0 ? `spawn_per_s_${mib}mib` : 'spawn_per_s';
      console.log(JSON.stringify({ workload: 'W9', impl: 'node', metric,
        value: Number((total / s).toPrecision(6)), unit: 'proc/s', n: total }));
      if (ballast) ballast[0] = ballast[ballast.length - 1]; // keep it alive until here
    } else {
      next();
    }
  });
}

for (let i = 0; i < inflight; i++) next();
