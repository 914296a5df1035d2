// Turns our recorded prompts (8 kHz, 16-bit PCM, reference §5.5) into what a Voicebot stream asked for in
// its `start.media_format` (reference §6.2): PCM16 at 8, 16 or 24 kHz, or 8-bit μ-law where the extension
// guide's default applies. Pure functions on Buffers.
import { SAMPLE_RATE } from './wav.js';

export type Encoding = 'pcm16' | 'mulaw';

export interface MediaFormat {
  encoding: Encoding;
  sampleRate: 8_000 | 16_000 | 24_000;
}

/** Bytes per second of audio in this format. */
export const bytesPerSecond = (format: MediaFormat): number => format.sampleRate * (format.encoding === 'pcm16' ? 2 : 1);

/** 8 kHz PCM16 at a whole multiple of its rate, by linear interpolation between neighbouring samples. */
export function resample(pcm: Buffer, rate: MediaFormat['sampleRate']): Buffer {
  const factor = rate / SAMPLE_RATE;
  if (factor === 1) return pcm;
  const samples = Math.floor(pcm.length / 2);
  const out = Buffer.alloc(samples * factor * 2);
  for (let i = 0; i < samples; i++) {
    const a = pcm.readInt16LE(i * 2);
    const b = i + 1 < samples ? pcm.readInt16LE((i + 1) * 2) : a;
    for (let k = 0; k < factor; k++) out.writeInt16LE(Math.round(a + ((b - a) * k) / factor), (i * factor + k) * 2);
  }
  return out;
}

/** G.711 μ-law, one byte per sample. */
export function toMulaw(pcm: Buffer): Buffer {
  const samples = Math.floor(pcm.length / 2);
  const out = Buffer.alloc(samples);
  for (let i = 0; i < samples; i++) out[i] = mulawByte(pcm.readInt16LE(i * 2));
  return out;
}

function mulawByte(sample: number): number {
  const BIAS = 0x84;
  const sign = sample < 0 ? 0x80 : 0;
  let magnitude = Math.min(Math.abs(sample), 32_635) + BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (magnitude & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** 8 kHz PCM16 samples in the stream's format. */
export function encodeFor(pcm: Buffer, format: MediaFormat): Buffer {
  const resampled = resample(pcm, format.sampleRate);
  return format.encoding === 'mulaw' ? toMulaw(resampled) : resampled;
}

/** The byte that is silence in this encoding (μ-law's zero is 0xFF). */
export const silenceByte = (encoding: Encoding): number => (encoding === 'mulaw' ? 0xff : 0);
