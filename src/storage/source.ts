// The storage edge: where recordings are read from. The core only ever sees key names and playlist text.
import type { S3Client } from '@aws-sdk/client-s3';

export interface StoredObject {
  /** Key relative to the source root, '/'-separated, never starting with '/'. */
  key: string;
  size: number;
  etag?: string;
  /** Last modification (epoch ms), where the store has no ETag (local folders). */
  modifiedMs?: number;
}

export interface TransferProgress {
  files: number;
  totalFiles: number;
  bytes: number;
  totalBytes: number;
  /** Bytes per second over the transfer so far. */
  rate: number;
  /** Seconds left at the current rate, null while unknown. */
  etaSeconds: number | null;
}

export interface FetchOptions {
  signal?: AbortSignal;
  onProgress?: (progress: TransferProgress) => void;
}

export interface RecordingSource {
  /** Human-readable location, safe to print (no credentials). */
  readonly description: string;
  /** True when `materialize` downloads nothing (a folder on this machine): a dry run then measures every slice. */
  readonly local?: boolean;
  /** Every object under the source root. */
  list(signal?: AbortSignal): Promise<StoredObject[]>;
  /** A small text object (a playlist). */
  readText(key: string, signal?: AbortSignal): Promise<string>;
  /**
   * Makes local files for these keys (downloading them if the source is remote) and
   * returns key -> absolute local path. Keys that cannot be had are left out of the map and
   * reported in `missing` with the reason.
   */
  materialize(keys: string[], options?: FetchOptions): Promise<{ paths: Map<string, string>; missing: Map<string, string> }>;
  /** Removes whatever the source downloaded (unless the user asked to keep it). */
  dispose(): Promise<void>;
}

/** How to reach S3-compatible storage (for `s3://bucket/prefix` sources and uploads). */
export interface StorageOptions {
  /** Use this client instead of building one. */
  s3Client?: S3Client;
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  /** Parallel downloads (default 16). */
  downloadConcurrency?: number;
  /** Download cache folder (default `<outDir>/.recmerge-cache`). */
  cacheDir?: string;
  /** Keep the download cache after the run. */
  keepDownloads?: boolean;
}

/** A source: a local folder path, an `s3://bucket/prefix` URL, or an opened RecordingSource. */
export type SourceSpec = string | RecordingSource;
