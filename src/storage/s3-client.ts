// Builds the S3 client. Credentials come from the SDK's default chain (environment,
// shared config/credentials files and profiles, SSO, web identity, container/instance roles).
import { S3Client } from '@aws-sdk/client-s3';
import type { StorageOptions } from '../options.js';
import { DEFAULT_S3_LIMITS } from './s3-limits.js';

export const DEFAULT_REGION = 'us-east-1';

export function resolveRegion(options: Pick<StorageOptions, 'region'>, env: NodeJS.ProcessEnv = process.env): string {
  return options.region || env.AWS_REGION || env.AWS_DEFAULT_REGION || DEFAULT_REGION;
}

/**
 * A client given in `options.s3Client` is used as it is (its own timeouts; the deadlines still apply).
 * `maxAttempts` stays 1 for reads: retries are ours (retry.ts), one policy for requests and
 * for bodies cut short mid-stream, which the SDK cannot see because the body is read after
 * it returns. Uploads pass a higher value so that the SDK retries single multipart parts.
 */
export function createS3Client(
  options: StorageOptions = {},
  { maxAttempts = 1, idleTimeoutMs = DEFAULT_S3_LIMITS.idleTimeoutMs }: { maxAttempts?: number; idleTimeoutMs?: number } = {},
): S3Client {
  if (options.s3Client) return options.s3Client;
  const maxSockets = Math.max(50, options.downloadConcurrency ?? 0);
  return new S3Client({
    region: resolveRegion(options),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.forcePathStyle !== undefined ? { forcePathStyle: options.forcePathStyle } : {}),
    // Newer SDKs send CRC checksums on every request and validate them on every response;
    // OSS, COS, MinIO versions and s3rver reject or lack them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts,
    requestHandler: {
      connectionTimeout: 10_000,
      // Idle timeout of every request, headers and body, also bodies the SDK reads itself (listings): a
      // server that stops sending is dropped. Total deadlines are set per request (s3-limits.ts).
      socketTimeout: idleTimeoutMs,
      // The agent's default (50) would queue requests above that concurrency.
      httpAgent: { maxSockets },
      httpsAgent: { maxSockets },
    },
  });
}
