// The examples each command's --help ends with: real command lines a newcomer can adapt.
import type { Command } from 'commander';

export const EXAMPLES: Record<string, string[]> = {
  recmerge: [
    'recmerge inspect ./recording --html timeline.html',
    'recmerge merge ./recording -o out',
    'recmerge merge s3://bucket/recordings/class42 -o out --region us-east-1',
    'recmerge compose ./recording -o out',
    'recmerge snapshots ./recording -o shots --every 10',
  ],
  merge: [
    'recmerge merge ./recording -o out                      # one MP4 per user',
    'recmerge merge ./recording -o out --uid 1001 --size 1280x720 --fps 15',
    'recmerge merge ./recording -o out --mode segments --names script   # like the service script -m 0',
    'recmerge merge ./recording -o voices --mode audio --align session --audio-format wav   # every voice on the session clock',
    'recmerge merge ./recording -o out --transcode --chunk 300   # long re-encodes: 5-minute chunks at once on the cores',
    'recmerge merge s3://bucket/rec/class42 -o out --upload s3://bucket/merged --progress-json',
    'recmerge merge ./recording -o out --loudnorm           # every user at -16 LUFS (EBU R128); video still copied',
  ],
  inspect: [
    'recmerge inspect ./recording',
    'recmerge inspect ./recording --html timeline.html     # open it in a browser',
    'recmerge inspect s3://bucket/rec/class42 --json --region us-east-1',
  ],
  compose: [
    'recmerge compose ./recording -o out                    # one composite MP4 + layout sidecar per session',
    'recmerge compose ./recording -o out --labels --max-tiles 9 --size 1920x1080 --fps 30',
    'recmerge compose ./recording -o out --names-file names.csv   # uid,name lines (any script: 张伟, 김민준, ...)',
    'recmerge compose ./recording -o out --mode mix-audio   # only the mixed audio, one .m4a per session',
    'recmerge compose ./recording -o out --loudnorm -23     # each voice, then the mix, levelled to -23 LUFS',
    'recmerge compose ./recording -o out --layout speaker   # whoever speaks in a big tile, the others in a strip',
    'recmerge compose s3://bucket/rec/class42 -o out --upload s3://bucket/composed --progress-json',
  ],
  snapshots: [
    'recmerge snapshots ./recording -o shots --every 10     # a JPEG per user every 10 s of wall clock',
    'recmerge snapshots ./recording -o shots --every 1 --uid 1001 --dry-run',
    'recmerge snapshots ./recording -o shots --at 20240506070815000 2024-05-06T07:09:00Z   # these instants',
    'recmerge snapshots s3://bucket/rec/class42 -o shots --every 60 --upload s3://bucket/shots',
  ],
  worker: [
    'recmerge worker --redis redis://127.0.0.1:6379 --allow /data/recordings /data/merged',
    'RECMERGE_REDIS=redis://queue:6379 recmerge worker --allow s3://bucket/rec s3://bucket/merged --concurrency 2 --work-dir /var/tmp/recmerge',
    'recmerge worker --redis redis://queue:6379 --allow /mnt/rec /mnt/merged --name encoder-3 --chunk-concurrency 1   # also encodes chunks of any job',
  ],
  enqueue: [
    'recmerge enqueue s3://bucket/rec/class42 -o s3://bucket/merged/class42 --redis redis://127.0.0.1:6379',
    'RECMERGE_REDIS=redis://queue:6379 recmerge enqueue /data/rec/class42 -o /data/merged/class42 --mode audio --json',
  ],
  serve: [
    'recmerge serve --port 8080 --secret "$NOTIFY_SECRET" --source "s3://bucket/recordings/{cname}/{sid}" --redis redis://127.0.0.1:6379',
    'RECMERGE_NOTIFY_SECRET=s3cret recmerge serve --port 8080 --host 127.0.0.1 --redis redis://127.0.0.1:6379 --source "s3://bucket/{sid}" --output "s3://bucket/merged/{sid}"',
  ],
};

/** Adds the examples to the end of the --help of the program and of every command that has some. */
export function addExamples(program: Command): void {
  for (const command of [program, ...program.commands]) {
    const examples = EXAMPLES[command.name()];
    if (examples) command.addHelpText('after', `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}\n`);
  }
}
