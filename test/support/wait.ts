// Waiting in tests: poll until something holds (with a bound), and until a BullMQ job has settled.
import type { Job, Queue } from 'bullmq';

/** Polls `probe` every `stepMs` until it returns something truthy; fails naming `what` after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** The job once it is completed or failed (read again then: the first read may predate its failedReason). */
export const settledJob = (queue: Queue, id: string, timeoutMs?: number): Promise<Job> =>
  until(`job ${id} to settle`, async () => {
    const state = await (await queue.getJob(id))?.getState();
    return state === 'completed' || state === 'failed' ? ((await queue.getJob(id)) as Job) : undefined;
  }, timeoutMs, 100);
