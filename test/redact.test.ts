// The one redaction (src/storage/redact.ts): what it hides and what it leaves readable.
import { describe, expect, it } from 'vitest';
import { redact, redactError } from '../src/storage/redact.js';

describe('redact', () => {
  it.each([
    ['s3://AKIAIOSFODNN7EXAMPLE:wJalr/XUtn+FEMI@rec/class42', 's3://***@rec/class42'],
    ['from https://user:hunter2@example.com/x?X-Amz-Signature=abc&token=t0k done', 'from https://***@example.com/x?X-Amz-Signature=***&token=*** done'],
    ['redis://:pw@redis:6379/0', 'redis://***@redis:6379/0'],
    ['https://user@host/x', 'https://***@host/x'],
    ['"https://minio:9000/?sig=abc#top"', '"https://minio:9000/?sig=***#top"'],
    ['Credential=AKIAX/20190101/us-east-1/s3/aws4_request, Signature=f00d', 'Credential=***, Signature=***'],
    ['aws_secret_access_key = abc/def+g', 'aws_secret_access_key = ***'],
    ['{"password":"p4ss","mode":"av"}', '{"password":"***","mode":"av"}'],
    ['key ASIAABCDEFGHIJKLMNOP used', 'key *** used'],
  ])('hides the secret in %s', (message, expected) => {
    expect(redact(message)).toBe(expected);
    expect(redact(redact(message))).toBe(expected);
  });

  it.each([
    's3://bucket/class42/sid_room__uid_s_7__uid_e_audio_20190920125142485.ts',
    's3://bucket/keys/with@sign.ts',
    '/srv/rec/a b/c?d=1',
    'missing or wrong Agora-Signature / Agora-Signature-V2',
    'worker: SIGTERM, finishing running jobs',
  ])('leaves %s alone', (message) => {
    expect(redact(message)).toBe(message);
  });

  it('redacts an error in place, message and stack, keeping its class', () => {
    class NotAllowed extends Error {}
    const error = redactError(new NotAllowed('source not allowed: s3://KEY:SECRET@b/x'));
    expect(error).toBeInstanceOf(NotAllowed);
    expect(error.message).toBe('source not allowed: s3://***@b/x');
    expect(error.stack).not.toContain('SECRET');
  });
});
