#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm run build`; packages built with `npm pack` ship it).
let main;
try {
  ({ main } = await import('../dist/cli.js'));
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('dist/cli.js')) throw error;
  process.stderr.write('recmerge: dist/ is not built; in a checkout run `npm run build` first\n');
  process.exit(2);
}
process.exitCode = await main(process.argv.slice(2));
