// Reading a recorded clip: whole 16-bit samples only, and a file cut short is refused (the prompt falls
// back to TTS) rather than stitched into what the vendor hears.
import { describe, expect, it } from 'vitest';
import { readPcm, WavFormatError, writeWav } from '../../src/audio/wav.js';

const samples = (values: number[]) => {
  const pcm = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => pcm.writeInt16LE(v, i * 2));
  return pcm;
};

describe('readPcm', () => {
  it('gives back the samples writeWav wrote', () => {
    const pcm = samples([0, 2710, -1200, 32000]);
    expect(readPcm(writeWav(pcm))).toEqual(pcm);
  });

  it('drops an odd trailing byte, so the clips stitched after it stay aligned', () => {
    const wav = writeWav(Buffer.concat([samples([0, 2710]), Buffer.from([0x7f])]));
    expect(readPcm(wav)).toEqual(samples([0, 2710]));
  });

  it('refuses a file cut short of its data chunk', () => {
    const wav = writeWav(samples([0, 2710, -1200, 32000]));
    expect(() => readPcm(wav.subarray(0, wav.length - 3), 'amount')).toThrowError(new WavFormatError('amount is cut short: its data chunk says 8 bytes, the file has 5'));
  });
});
