// `node --import ./import-trace.mjs ...`: records every module the process imports into $RECMERGE_TRACE_IMPORTS.
import { register } from 'node:module';

register('./import-trace-hooks.mjs', import.meta.url, { data: { file: process.env.RECMERGE_TRACE_IMPORTS } });
