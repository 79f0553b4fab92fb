// The storage edge: where recordings are read from. The core only ever sees key names and playlist text.

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
