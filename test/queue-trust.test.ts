// A worker trusts only what it was told: job sources/outputs inside its --allow list, S3 endpoints from
// its --allow-endpoint list. A refused job fails with "not allowed" before anything is read, listed,
// created or contacted; a loopback listener stands in for a foreign endpoint and must see no connection.
import { lstat, mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueMerge } from '../src/queue/enqueue.js';
import { optionsHash, QUEUE_NAME, type QueuedMergeJob } from '../src/queue/job.js';
import { createTrust } from '../src/queue/trust.js';
import { manifestName, startWorker, type JobResult, type RunningWorker } from '../src/queue/worker.js';
import { writeRecording } from './support/recording-fixture.js';
import { startRedis, type TestRedis } from './support/redis.js';
import { settledJob } from './support/wait.js';

describe('what a worker trusts', () => {
  let redis: TestRedis;
  let queue: Queue;
  let worker: RunningWorker;
  let root: string;
  let foreign: Server;
  let foreignUrl: string;
  const connections: string[] = [];
  const logLines: string[] = [];
  const saved = { ...process.env };

  const settled = (id: string) => settledJob(queue, id, 20_000);
  /** Adds a job as anyone with access to Redis could (no enqueue-side resolution or checks). */
  const addRaw = async (data: object) => (await queue.add('merge', { ...data, meta: { enqueuedAt: new Date().toISOString(), requestId: 'raw' } })).id!;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'recmerge-trust-'));
    await mkdir(join(root, 'allowed', 'junk'), { recursive: true });
    await writeFile(join(root, 'allowed', 'junk', 'secret-plans.txt'), 'not a recording');
    await mkdir(join(root, 'outside'), { recursive: true });
    await writeFile(join(root, 'outside', 'private-file.txt'), 'x');
    await symlink(join(root, 'outside'), join(root, 'allowed', 'link-out'));
    foreign = createServer((socket: Socket) => {
      socket.on('data', (d) => connections.push(d.toString('latin1')));
      connections.push('connection');
    });
    await new Promise<void>((r) => foreign.listen(0, '127.0.0.1', r));
    foreignUrl = `http://127.0.0.1:${(foreign.address() as { port: number }).port}`;
    // Credentials the worker would sign with, were it to contact an endpoint.
    process.env.AWS_ACCESS_KEY_ID = 'AKIATRUSTTESTKEY0001';
    process.env.AWS_SECRET_ACCESS_KEY = 'trust-test-secret';
    process.env.AWS_SESSION_TOKEN = 'trust-test-session-token';
    redis = await startRedis();
    queue = new Queue(QUEUE_NAME, { connection: { url: redis.url } });
    worker = await startWorker({
      redis: redis.url,
      allow: [join(root, 'allowed'), 's3://rec/recordings'],
      allowEndpoints: ['http://127.0.0.1:1'],
      log: (line) => logLines.push(line),
    });
  });

  afterAll(async () => {
    await worker?.close();
    await queue?.close();
    await redis?.stop();
    foreign?.close();
    process.env = saved;
  });

  it('refuses sources and outputs outside the allow-list, listing nothing and creating nothing', async () => {
    const cases = [
      { source: '/etc', output: join(root, 'allowed', 'out1'), reason: /source not allowed: \/etc/ },
      { source: join(root, 'outside'), output: join(root, 'allowed', 'out2'), reason: /source not allowed/ },
      { source: join(root, 'allowed', 'link-out'), output: join(root, 'allowed', 'out3'), reason: /source not allowed/ },
      { source: join(root, 'allowed', '..', 'outside'), output: join(root, 'allowed', 'out4'), reason: /source not allowed/ },
      { source: join(root, 'allowed', 'junk'), output: join(root, 'outside', 'out5'), reason: /output not allowed/ },
      { source: join(root, 'allowed', 'junk'), output: join(root, 'allowed', 'link-out', 'out6'), reason: /output not allowed/ },
      { source: 'junk', output: join(root, 'allowed', 'out7'), reason: /source not allowed: junk: a relative path/ },
      { source: 's3://rec/recordings-other/x', output: join(root, 'allowed', 'out8'), reason: /source not allowed/ },
      { source: 's3://rec/recordings/../private', output: join(root, 'allowed', 'out9'), reason: /source not allowed/ },
      { source: 's3://other/recordings', output: join(root, 'allowed', 'out10'), reason: /source not allowed/ },
    ];
    const ids = [];
    for (const c of cases) ids.push(await addRaw({ source: c.source, output: c.output }));
    for (const [i, id] of ids.entries()) {
      const job = await settled(id);
      expect(await job.getState()).toBe('failed');
      expect(job.failedReason).toMatch(cases[i]!.reason);
      expect(job.attemptsMade).toBe(1);
      expect(job.failedReason).not.toMatch(/passwd|hosts|private-file/);
    }
    expect(await readdir(join(root, 'outside'))).toEqual(['private-file.txt']);
    expect((await readdir(join(root, 'allowed'))).sort()).toEqual(['junk', 'link-out']);
    expect(connections).toEqual([]);
  });

  it('never contacts an endpoint it was not given, and never sends it credentials', async () => {
    const id = await addRaw({ source: 's3://rec/recordings/class1', output: join(root, 'allowed', 'merged'), options: { endpoint: foreignUrl, forcePathStyle: true } });
    const job = await settled(id);
    expect(job.failedReason).toMatch(/endpoint not allowed/);
    // The s3:// output path too: an S3 output is written through the same endpoint.
    const id2 = await addRaw({ source: join(root, 'allowed', 'junk'), output: 's3://rec/recordings/out', options: { endpoint: `${foreignUrl}/` } });
    expect((await settled(id2)).failedReason).toMatch(/endpoint not allowed/);
    // The SDK makes host names from the region: a job cannot smuggle a host in through it.
    const id3 = await addRaw({ source: 's3://rec/recordings/class1', output: join(root, 'allowed', 'merged'), options: { region: '127.0.0.1:9/x' } });
    expect((await settled(id3)).failedReason).toMatch(/options.region: expected a region name/);
    await new Promise((r) => setTimeout(r, 200));
    expect(connections).toEqual([]);
  });

  it('logs and records no credentials a job sends, valid or not (issue 18.5)', async () => {
    const secrets = ['AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI', 'K7MDENG', 'hunter2', 'sig-in-query', 'tok-in-query', 'EPSECRET', 'qs-secret', 'OUTSECRET'];
    const jobs = [
      { source: 's3://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfi@rec/recordings/class42', output: join(root, 'allowed', 'r1') },
      { source: join(root, 'allowed', 'junk'), output: 's3://OUTKEY:OUTSECRET@rec/recordings/out' },
      { source: 'https://user:hunter2@example.com/rec?X-Amz-Signature=sig-in-query&token=tok-in-query', output: join(root, 'allowed', 'r2') },
      { source: 's3://rec/recordings/class42', output: join(root, 'allowed', 'r3'), options: { endpoint: 'https://EPKEY:EPSECRET@127.0.0.1:1/?sig=qs-secret' } },
      { source: 's3://rec/recordings/class42', output: join(root, 'allowed', 'r4'), options: { region: 'password=hunter2' } },
    ];
    const ids: string[] = [];
    for (const data of jobs) ids.push(await addRaw(data));
    for (const id of ids) {
      const job = await settled(id);
      expect(await job.getState()).toBe('failed');
      const recorded = [job.failedReason, ...(job.stacktrace ?? [])].join('\n');
      for (const secret of secrets) expect(recorded).not.toContain(secret);
    }
    await new Promise((r) => setTimeout(r, 100)); // the 'failed' lines are written after the state changes
    for (const id of ids) expect(logLines.some((l) => l.startsWith(`job ${id}: started`))).toBe(true);
    const logged = logLines.filter((l) => ids.some((id) => l.startsWith(`job ${id}:`))).join('\n');
    for (const secret of secrets) expect(logged).not.toContain(secret);
    expect(logged).toContain('job data not valid');
  });

  it('writes its manifest through no planted symbolic link, and reads none (issue 18.4)', async () => {
    const source = join(root, 'allowed', 'rec42');
    await writeRecording(source, { sid: '4'.repeat(32), cname: 'room42', users: [{ uid: '5', audio: [{ startMs: Date.UTC(2026, 0, 5, 9), durationMs: 3000 }] }] });
    const victim = join(root, 'outside', 'victim.txt');
    await writeFile(victim, 'precious');
    // The temporary name the worker used to write, predictable from the job: a link to a file outside.
    const out1 = join(root, 'allowed', 'out42a');
    await mkdir(out1);
    await symlink(victim, join(out1, `${manifestName({ source, output: out1 })}.tmp`));
    // The manifest's own name: a link to a forged "complete" manifest outside, which would make the job a no-op.
    const out2 = join(root, 'allowed', 'out42b');
    const forged = join(root, 'outside', 'forged.json');
    await writeFile(forged, JSON.stringify({ version: 1, optionsHash: optionsHash(), outputs: [] }));
    await mkdir(out2);
    await symlink(forged, join(out2, manifestName({ source, output: out2 })));

    for (const output of [out1, out2]) {
      const job = await settled(await addRaw({ source, output }));
      expect(await job.getState(), job.failedReason).toBe('completed');
      const result = job.returnvalue as JobResult;
      expect(result.noop).toBe(false);
      expect(result.outputs).toHaveLength(1);
      const manifest = join(output, manifestName({ source, output }));
      expect((await lstat(manifest)).isFile()).toBe(true);
      expect(JSON.parse(await readFile(manifest, 'utf8')).outputs).toHaveLength(1);
    }
    expect(await readFile(victim, 'utf8')).toBe('precious');
    expect(JSON.parse(await readFile(forged, 'utf8')).outputs).toEqual([]);
  }, 60_000);

  it('refuses an output that is a link to a place that does not exist yet outside the allow-list', async () => {
    const made = join(root, 'outside', 'made-by-worker');
    await symlink(made, join(root, 'allowed', 'dangling'));
    const job = await settled(await addRaw({ source: join(root, 'allowed', 'junk'), output: join(root, 'allowed', 'dangling', 'sub') }));
    expect(job.failedReason).toMatch(/output not allowed/);
    expect(await readdir(join(root, 'outside'))).not.toContain('made-by-worker');
  });

  it('puts no directory listing in a failure reason', async () => {
    const id = await addRaw({ source: join(root, 'allowed', 'junk'), output: join(root, 'allowed', 'junk-out') });
    const job = await settled(id);
    expect(job.failedReason).toMatch(/no recording found in .*: 1 file\(s\), none of them a recording's playlist or slice/);
    expect(job.failedReason).not.toContain('secret-plans');
  });

  it('enqueue resolves relative folders where it runs; the worker never does', async () => {
    const cwd = process.cwd();
    const { id } = await enqueueMerge({ source: relative(cwd, join(root, 'allowed', 'junk')), output: relative(cwd, join(root, 'allowed', 'rel-out')) }, { redis: redis.url, queue });
    const stored = (await queue.getJob(id))!.data as QueuedMergeJob;
    expect(stored.source).toBe(join(root, 'allowed', 'junk'));
    expect(stored.output).toBe(join(root, 'allowed', 'rel-out'));
    expect((await settled(id)).failedReason).toMatch(/no recording found/);
  });

  it('checks endpoints by origin and path, and needs an allow-list', async () => {
    const trust = await createTrust({ allow: ['/srv/rec'], allowEndpoints: ['https://minio.internal:9000/'] });
    expect(trust.checkEndpoint('https://minio.internal:9000')).toBe('https://minio.internal:9000');
    expect(() => trust.checkEndpoint('https://minio.internal:9001')).toThrow(/not allowed/);
    expect(() => trust.checkEndpoint('http://minio.internal:9000')).toThrow(/not allowed/);
    expect(() => trust.checkEndpoint('https://user:pw@minio.internal:9000')).toThrow(/not allowed/);
    expect(trust.checkEndpoint(undefined)).toBeUndefined();
    await expect(trust.checkLocation('source', '/srv/rec/a/b')).resolves.toBe('/srv/rec/a/b');
    await expect(trust.checkLocation('source', 's3://rec/class42/')).rejects.toThrow(/not allowed/);
    await expect(trust.checkLocation('source', '/srv/recordings')).rejects.toThrow(/not allowed/);
    await expect(createTrust({ allow: [] })).rejects.toThrow(/allow-list/);
    await expect(createTrust({ allow: ['relative/dir'] })).rejects.toThrow(/absolute/);
  });
});
