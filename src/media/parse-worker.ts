// A reader thread (see contained.ts): reads one slice at a time as the main thread asks, and answers with
// what it found or why not. Whatever a slice does to the parsers here, the main thread stays free.
import { parentPort } from 'node:worker_threads';
import type { ReadOutcome, ReadTask } from './contained.js';
import { readFacts, readSliceMedia, SliceMediaError } from './slice-read.js';

const port = parentPort!;
// What a demuxer prints about a broken file is not ours to show (answers come as messages). Captured
// worker stdio would keep the process alive; silencing the console here does not.
for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) console[method] = () => {};

async function answer(task: ReadTask): Promise<ReadOutcome> {
  try {
    const value = task.kind === 'media' ? await readSliceMedia(task.file, task.container, task.media) : await readFacts(task.file, task.container, task.withLength);
    return { ok: true, value };
  } catch (error) {
    return { ok: false, refused: error instanceof SliceMediaError, message: error instanceof Error ? error.message : String(error) };
  }
}

port.on('message', (message: { id: number; task: ReadTask }) => {
  void answer(message.task).then((outcome) => port.postMessage({ id: message.id, outcome }));
});
port.postMessage({ ready: true });
