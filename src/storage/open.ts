// Turns what the user gave (a folder, an s3:// URL, or a ready source) into a RecordingSource.
// The S3 side (and with it the AWS SDK) is loaded only for s3:// sources: a local merge starts fast.
import { LocalFolderSource } from './local.js';
import type { RecordingSource, SourceSpec, StorageOptions } from './source.js';

export function isS3Url(s: string): boolean {
  return /^s3:\/\//i.test(s);
}

export async function openSource(spec: SourceSpec, options: StorageOptions & { outDir: string }): Promise<RecordingSource> {
  if (typeof spec !== 'string') return spec;
  if (isS3Url(spec)) {
    const { S3Source } = await import('./s3.js');
    return new S3Source(spec, options);
  }
  return new LocalFolderSource(spec);
}
