// WAV as Exotel plays it: RIFF, PCM, 8 kHz, mono, 16-bit (reference §5.5). Reads a clip's samples (and
// refuses any other format rather than play noise) and writes samples back as one file.

export const SAMPLE_RATE = 8_000;
const HEADER_BYTES = 44;

export class WavFormatError extends Error {
  readonly code = 'AUDIO_ERR_FORMAT';
}

/** The PCM samples of an 8 kHz mono 16-bit WAV file. */
export function readPcm(file: Buffer, name = 'clip'): Buffer {
  if (file.length < 12 || file.toString('ascii', 0, 4) !== 'RIFF' || file.toString('ascii', 8, 12) !== 'WAVE') {
    throw new WavFormatError(`${name} is not a WAV file`);
  }
  let offset = 12;
  let format: { audioFormat: number; channels: number; rate: number; bits: number } | undefined;
  while (offset + 8 <= file.length) {
    const id = file.toString('ascii', offset, offset + 4);
    const size = file.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      format = { audioFormat: file.readUInt16LE(body), channels: file.readUInt16LE(body + 2), rate: file.readUInt32LE(body + 4), bits: file.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (!format || format.audioFormat !== 1 || format.channels !== 1 || format.rate !== SAMPLE_RATE || format.bits !== 16) {
        throw new WavFormatError(`${name} must be PCM, 8 kHz, mono, 16-bit (convert: sox in.wav -r 8000 -c 1 -b 16 out.wav)`);
      }
      // A file cut short (an interrupted copy) would play half a word: refused, so the prompt falls back to TTS.
      if (body + size > file.length) throw new WavFormatError(`${name} is cut short: its data chunk says ${size} bytes, the file has ${file.length - body}`);
      // Whole 16-bit samples only: an odd byte would shift every clip stitched after this one into noise.
      return file.subarray(body, body + (size & ~1));
    }
    offset = body + size + (size % 2);
  }
  throw new WavFormatError(`${name} has no audio data`);
}

/** One 8 kHz mono 16-bit PCM WAV file holding these samples. */
export function writeWav(pcm: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + pcm.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(SAMPLE_RATE, 24);
  header.writeUInt32LE(SAMPLE_RATE * 2, 28); // bytes per second
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(pcm.length, 40);
  return Buffer.concat([header, pcm]);
}

/** Seconds of audio in these samples. */
export const durationSeconds = (pcm: Buffer): number => pcm.length / 2 / SAMPLE_RATE;
