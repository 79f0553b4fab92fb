// Turns what the user gave (a folder, an s3:// URL, or a ready source) into a RecordingSource.
import type { SourceSpec, StorageOptions } from '../options.js';
import { LocalFolderSource } from './local.js';
import { S3Source } from './s3.js';
import type { RecordingSource } from './source.js';

export function isS3Url(s: string): boolean {
  return /^s3:\/\//i.test(s);
}

export function openSource(spec: SourceSpec, options: StorageOptions & { outDir: string }): RecordingSource {
  if (typeof spec !== 'string') return spec;
  if (isS3Url(spec)) return new S3Source(spec, options);
  return new LocalFolderSource(spec);
}
