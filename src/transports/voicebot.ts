// Voicebot transport (reference §6): the WebSocket messages Exotel sends us, read leniently, and the ones we
// send back, written the way every documented implementation accepts. Pure: no socket, no timers.
import { bytesPerSecond, silenceByte, type MediaFormat } from '../audio/pcm.js';

/** What Exotel said, as much of it as we use. Numbers may arrive as strings (§6.3): both are read. */
export type StreamMessage =
  | { event: 'connected' }
  | {
      event: 'start';
      streamSid: string;
      callSid: string | undefined;
      accountSid: string | undefined;
      from: string | undefined;
      to: string | undefined;
      customParameters: Record<string, string>;
      /** The sample rate is undefined when `start` names none we can play (the stream URL's then applies). */
      format: StartFormat;
    }
  | { event: 'media' }
  | { event: 'dtmf'; digit: string }
  | { event: 'mark'; name: string }
  | { event: 'stop'; reason: string | undefined }
  | { event: 'other'; name: string };

export type Unreadable = { error: string };

export type StartFormat = { encoding: MediaFormat['encoding']; sampleRate: MediaFormat['sampleRate'] | undefined };

const KEYS = /^[0-9*#]$/;

export function readStreamMessage(text: string): StreamMessage | Unreadable {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { error: 'not JSON' };
  }
  if (!isObject(json) || typeof json.event !== 'string') return { error: 'no event name' };
  switch (json.event) {
    case 'connected':
      return { event: 'connected' };
    case 'media':
      // The caller's audio: not listened to yet (keys only), so not even decoded.
      return { event: 'media' };
    case 'start': {
      const start = isObject(json.start) ? json.start : {};
      const streamSid = text_(start.stream_sid) ?? text_(start.streamSid) ?? text_(json.stream_sid) ?? text_(json.streamSid);
      if (!streamSid) return { error: 'start without stream_sid' };
      const custom = isObject(start.custom_parameters) ? start.custom_parameters : isObject(start.customParameters) ? start.customParameters : {};
      const customParameters: Record<string, string> = {};
      for (const [key, value] of Object.entries(custom)) {
        const read = text_(value);
        if (read !== undefined) customParameters[key] = read;
      }
      return {
        event: 'start',
        streamSid,
        callSid: text_(start.call_sid) ?? text_(start.callSid),
        accountSid: text_(start.account_sid) ?? text_(start.accountSid),
        from: text_(start.from),
        to: text_(start.to),
        customParameters,
        format: mediaFormat(isObject(start.media_format) ? start.media_format : isObject(start.mediaFormat) ? start.mediaFormat : {}),
      };
    }
    case 'dtmf': {
      const digit = text_(isObject(json.dtmf) ? json.dtmf.digit : undefined);
      return digit !== undefined && KEYS.test(digit) ? { event: 'dtmf', digit } : { error: 'dtmf without a key 0-9, * or #' };
    }
    case 'mark': {
      const name = text_(isObject(json.mark) ? json.mark.name : undefined);
      return name ? { event: 'mark', name } : { error: 'mark without a name' };
    }
    case 'stop':
      return { event: 'stop', reason: text_(isObject(json.stop) ? json.stop.reason : undefined) };
    default:
      return { event: 'other', name: json.event.slice(0, 32) };
  }
}

/** PCM16 unless the stream says μ-law (the extension guide's default, §6.2); 8, 16 or 24 kHz if it says so. */
export function mediaFormat(format: Record<string, unknown>): StartFormat {
  const encoding = text_(format.encoding) ?? '';
  const rate = Number(text_(format.sample_rate) ?? text_(format.sampleRate));
  return {
    encoding: /mu-?law|ulaw|pcmu/i.test(encoding) ? 'mulaw' : 'pcm16',
    sampleRate: rate === 8_000 || rate === 16_000 || rate === 24_000 ? rate : undefined,
  };
}

// Implementations disagree on the stream id's key (§6.4): we send both. In media, chunk, timestamp and
// sequenceNumber, as Exotel's Agent-Stream does: without them "some Connect streams drop / end early" (§6.4).
const ids = (streamSid: string) => ({ stream_sid: streamSid, streamSid });

/** `chunk`: the stream's media frames counted from 1 (it is the sequence number too). */
export function mediaMessage(streamSid: string, payload: Buffer, chunk: number, timestampMs: number): string {
  const n = String(chunk);
  return JSON.stringify({ event: 'media', ...ids(streamSid), media: { chunk: n, sequenceNumber: n, timestamp: String(Math.round(timestampMs)), payload: payload.toString('base64') } });
}

export const markMessage = (streamSid: string, name: string): string => JSON.stringify({ event: 'mark', ...ids(streamSid), mark: { name } });

export const clearMessage = (streamSid: string): string => JSON.stringify({ event: 'clear', ...ids(streamSid) });

// Chunks must be multiples of 320 bytes, at least 3.2 KB and at most 100 KB; others distort or leave gaps (§6.2).
export const CHUNK_ALIGN = 320;
export const MIN_CHUNK = 3_200;
export const MAX_CHUNK = 100_000;

/** Bytes per chunk: 100 ms of audio, rounded up to the alignment, never below the minimum. */
export function chunkBytes(format: MediaFormat): number {
  const tenth = Math.ceil(bytesPerSecond(format) / 10 / CHUNK_ALIGN) * CHUNK_ALIGN;
  return Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, tenth));
}

/** Audio cut into equal chunks; the last one padded with silence to the full size. */
export function chunks(audio: Buffer, format: MediaFormat): Buffer[] {
  const size = chunkBytes(format);
  const out: Buffer[] = [];
  for (let offset = 0; offset < audio.length; offset += size) {
    const piece = audio.subarray(offset, offset + size);
    out.push(piece.length === size ? piece : Buffer.concat([piece, Buffer.alloc(size - piece.length, silenceByte(format.encoding))]));
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text_(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}
