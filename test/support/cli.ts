// Runs the CLI as a user does: the built binary (bin/recmerge.js -> dist/), in its own process.
// test/global-setup.ts builds dist/ first when it is missing or older than src/.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/recmerge.js', import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function recmerge(args: string[], env: NodeJS.ProcessEnv = {}, execArgv: string[] = []): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...execArgv, BIN, ...args], { env: { ...process.env, FORCE_COLOR: '0', ...env }, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}
