// Peak memory of a process tree, by polling /proc every ~100 ms: the sum of VmRSS over the root and all its
// descendants (ffmpeg/ffprobe included), and how long each kind of child was seen running.
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

export interface TreeStats {
  /** Highest sum of VmRSS over the tree seen in one poll, bytes. */
  peakTreeRss: number;
  /** Highest VmRSS of the root process seen, bytes (cross-check for its own maxRSS). */
  peakRootRss: number;
  polls: number;
  /** Wall seconds during which at least one descendant with this command name was running. */
  secondsWith: Record<string, number>;
  /** Wall seconds with no descendant at all (only the root running: Node's own work, or idle). */
  secondsRootOnly: number;
  /** Distinct descendant pids seen per command name (short-lived ones can be missed). */
  pidsSeen: Record<string, number>;
}

interface ProcInfo {
  ppid: number;
  comm: string;
}

async function snapshot(): Promise<Map<number, ProcInfo>> {
  const out = new Map<number, ProcInfo>();
  const entries = await readdir('/proc').catch(() => [] as string[]);
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (e) => {
        const stat = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => null);
        if (!stat) return;
        // comm is in parentheses and may contain spaces: split after the last ')'.
        const close = stat.lastIndexOf(')');
        const comm = stat.slice(stat.indexOf('(') + 1, close);
        const ppid = Number(stat.slice(close + 2).split(' ')[1]);
        out.set(Number(e), { ppid, comm });
      }),
  );
  return out;
}

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

/**
 * Starts polling the tree under `root`; stop() returns the statistics. Processes named in `exclude` (and
 * what they start) are left out: tsx's esbuild service is there only because the bench runs TypeScript.
 */
export function watchTree(root: number, intervalMs = 100, exclude: string[] = ['esbuild']): { stop: () => Promise<TreeStats> } {
  const stats: TreeStats = { peakTreeRss: 0, peakRootRss: 0, polls: 0, secondsWith: {}, secondsRootOnly: 0, pidsSeen: {} };
  const seen = new Map<string, Set<number>>();
  let running = true;
  let last = performance.now();
  const loop = (async () => {
    while (running) {
      const procs = await snapshot();
      const children = new Map<number, number[]>();
      for (const [pid, p] of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
      const tree: number[] = [];
      const queue = procs.has(root) ? [root] : [];
      while (queue.length) {
        const pid = queue.pop()!;
        if (pid !== root && exclude.includes(procs.get(pid)!.comm)) continue;
        tree.push(pid);
        queue.push(...(children.get(pid) ?? []));
      }
      const rss = await Promise.all(tree.map(rssBytes));
      const total = rss.reduce((a, b) => a + b, 0);
      const now = performance.now();
      const dt = (now - last) / 1000;
      last = now;
      if (tree.length) {
        stats.polls++;
        stats.peakTreeRss = Math.max(stats.peakTreeRss, total);
        stats.peakRootRss = Math.max(stats.peakRootRss, rss[0] ?? 0);
        const comms = new Set<string>();
        for (const pid of tree.slice(1)) {
          const comm = procs.get(pid)!.comm;
          comms.add(comm);
          if (!seen.has(comm)) seen.set(comm, new Set());
          seen.get(comm)!.add(pid);
        }
        for (const c of comms) stats.secondsWith[c] = (stats.secondsWith[c] ?? 0) + dt;
        if (comms.size === 0) stats.secondsRootOnly += dt;
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      for (const [c, pids] of seen) stats.pidsSeen[c] = pids.size;
      return stats;
    },
  };
}

/**
 * Runs a bench child (`node --import tsx <script> <args>`) while watching its process tree, and returns the
 * JSON it printed on its `BENCH_RESULT ` line, the tree's stats and the child's wall time.
 */
export async function runWatchedChild<T>(label: string, script: string, args: string[], cwd?: string): Promise<{ report: T; tree: TreeStats; wallS: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const watcher = watchTree(child.pid!);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const wallS = (performance.now() - started) / 1000;
  const tree = await watcher.stop();
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (code !== 0 || !line) throw new Error(`${label}: child exited ${code}\n${stderr.slice(-2000)}`);
  return { report: JSON.parse(line.slice('BENCH_RESULT '.length)) as T, tree, wallS };
}
