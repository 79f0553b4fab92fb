// Opus access units out of MPEG-TS, for measuring a slice (the "original" recorder mode keeps a sender's
// Opus). The framing is the ETSI draft for Opus in MPEG-2 TS, as ffmpeg's mpegts muxer writes it and its
// mpegts demuxer and opus parser read it: stream_type 0x06 with an `Opus` registration descriptor, the
// channels in an extension descriptor (tag 0x7f, extension 0x80), and each access unit behind a control
// header: an 11-bit prefix 0x3ff, start_trim / end_trim / control_extension flags, au_size as a run of 0xff
// bytes plus a last byte, then the optional fields (13-bit trims), then the Opus packet.
// Written here for the same reason as adts.ts: no maintained npm package reads this framing.

/** Opus always decodes at 48 kHz (RFC 6716). */
export const OPUS_RATE = 48000;

/** Samples per frame at 48 kHz by TOC configuration (RFC 6716 section 3.1): SILK, Hybrid, CELT. */
function frameSamples(config: number): number {
  if (config < 12) return [480, 960, 1920, 2880][config % 4]!;
  if (config < 16) return [480, 960][config % 2]!;
  return [120, 240, 480, 960][config % 4]!;
}

/** Samples (48 kHz) one Opus packet decodes to, from its TOC byte (and frame count byte); null when unreadable. */
export function opusPacketSamples(packet: Buffer): number | null {
  if (packet.length < 1) return null;
  const toc = packet[0]!;
  const code = toc & 3;
  const frames = code === 0 ? 1 : code < 3 ? 2 : packet.length >= 2 ? packet[1]! & 0x3f : 0;
  if (frames === 0) return null;
  const samples = frames * frameSamples(toc >> 3);
  // A packet holds at most 120 ms.
  return samples <= 5760 ? samples : null;
}

/** Channels an `Opus` extension descriptor's channel_config_code gives (0 = dual mono, 1..8); null otherwise. */
export function opusChannels(channelConfigCode: number): number | null {
  if (channelConfigCode === 0) return 2;
  return channelConfigCode <= 8 ? channelConfigCode : null;
}

/**
 * Splits the PES payload of an Opus stream, pushed in pieces of any size, into access units: counts them,
 * the samples they decode to, and the trims the stream announces. Only an incomplete unit is kept between
 * pushes. Bytes that are not a control header (damage) are skipped and counted.
 */
export class OpusTsSplitter {
  units = 0;
  samples = 0;
  /** start_trim of the first unit (the encoder's pre-skip, 312 samples from libopus), or 0. */
  startTrim = 0;
  /** end_trim of the last unit, or 0. */
  endTrim = 0;
  /** Samples of the units of the last push (the last PES, when pushed one per PES). */
  lastPushSamples = 0;
  /** The Opus stereo flag of the first packet (the TOC's `s` bit): a fallback for the channel count. */
  stereo: boolean | null = null;
  junkBytes = 0;
  private carry: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    this.lastPushSamples = 0;
    let i = 0;
    while (i + 2 <= data.length) {
      if (data[i] !== 0x7f || (data[i + 1]! & 0xe0) !== 0xe0) {
        this.junkBytes++;
        i++;
        continue;
      }
      const flags = data[i + 1]!;
      let p = i + 2;
      let size = 0;
      while (p < data.length && data[p] === 0xff) size += data[p++]!;
      if (p >= data.length) break;
      size += data[p++]!;
      const startTrim = flags & 0x10 ? (p + 2 <= data.length ? ((data[p]! << 8) | data[p + 1]!) & 0x1fff : null) : 0;
      if (flags & 0x10) p += 2;
      const endTrim = flags & 0x08 ? (p + 2 <= data.length ? ((data[p]! << 8) | data[p + 1]!) & 0x1fff : null) : 0;
      if (flags & 0x08) p += 2;
      if (flags & 0x04) {
        if (p >= data.length) break;
        p += 1 + data[p]!;
      }
      if (startTrim === null || endTrim === null || p + size > data.length) break;
      const samples = opusPacketSamples(data.subarray(p, p + size));
      if (samples === null) {
        this.junkBytes += p + size - i;
      } else {
        if (this.units === 0) {
          this.startTrim = startTrim;
          this.stereo = ((data[p]! >> 2) & 1) === 1;
        }
        this.units++;
        this.samples += samples;
        this.lastPushSamples += samples;
        this.endTrim = endTrim;
      }
      i = p + size;
    }
    this.carry = Buffer.from(data.subarray(i));
  }

  finish(): void {
    this.junkBytes += this.carry.length;
    this.carry = Buffer.alloc(0);
  }
}

/** The access units of one payload (a PES), split. */
export function opusUnits(payload: Buffer): OpusTsSplitter {
  const splitter = new OpusTsSplitter();
  splitter.push(payload);
  splitter.finish();
  return splitter;
}
