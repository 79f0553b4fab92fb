// Test helper: leaves a partial output in <outDir> and a work folder in the temp folder, named the way a
// merge names them, prints them with its pid as one JSON line, then waits to be killed (never cleans up).
import { mkdtemp, writeFile } from 'node:fs/promises';
import { partialName, workPrefix } from '../../src/pipeline/leftovers.js';

const outDir = process.argv[2]!;
const partial = partialName(`${outDir}/out.mp4`, 'feedf00d');
await writeFile(partial, 'half written');
const work = await mkdtemp(workPrefix());
console.log(JSON.stringify({ pid: process.pid, partial, work }));
setInterval(() => undefined, 60_000);
