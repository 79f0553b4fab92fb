// The compose benchmark alone (also part of `npm run bench`): 4 users x 10 min into one 1280x720 video.
//   npm run bench:compose
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runComposeBench, TARGET_COMPOSE_NODE_RSS_MB, TARGET_COMPOSE_REALTIME } from './bench/compose.js';

const benchDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '.bench');
const log = (s: string) => process.stdout.write(`${s}\n`);
await mkdir(path.join(benchDir, 'recordings'), { recursive: true });
log(`load average before: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${os.availableParallelism()} cores)`);
const r = await runComposeBench(path.join(benchDir, 'recordings'), path.join(benchDir, 'out'), log);
const cpuBound = r.composedS / (r.cpuS.children / os.availableParallelism());
log(`load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
log(`${!r.error && r.timesRealtime >= TARGET_COMPOSE_REALTIME ? 'PASS' : 'MISS'} compose >= ${TARGET_COMPOSE_REALTIME}x real time: ${r.timesRealtime.toFixed(1)}x (${r.wallS.toFixed(1)} s wall; ffmpeg CPU ${r.cpuS.children.toFixed(1)} s = ${cpuBound.toFixed(1)}x with every core free)`);
log(`${r.nodePeakRssMB < TARGET_COMPOSE_NODE_RSS_MB ? 'PASS' : 'MISS'} compose Node peak RSS < ${TARGET_COMPOSE_NODE_RSS_MB} MB: ${r.nodePeakRssMB.toFixed(0)} MB (tree with ffmpeg ${r.treePeakRssMB.toFixed(0)} MB)`);
await writeFile(path.join(benchDir, 'compose-results.json'), JSON.stringify({ date: new Date().toISOString(), loadavg: os.loadavg(), ...r }, null, 2));
