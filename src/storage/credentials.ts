// Whether the AWS credential chain finds credentials for an S3 source, asked before anything is listed, so
// that a run without them stops at once with what to set (not after a failed listing).
import type { StorageOptions } from '../options.js';
import { createS3Client } from './s3-client.js';

/** Resolves the client's credentials (environment, profiles, SSO, web identity, container/instance roles); throws when none. */
export async function findCredentials(options: StorageOptions): Promise<void> {
  const client = createS3Client(options);
  try {
    await client.config.credentials();
  } finally {
    if (!options.s3Client) client.destroy();
  }
}
