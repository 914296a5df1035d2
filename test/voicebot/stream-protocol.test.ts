// The Voicebot protocol's pure half (reference §6): Exotel's frames read whatever the spelling, our frames
// written with both stream id keys, audio cut into aligned chunks and converted to the stream's format.
import { describe, expect, it } from 'vitest';
import { encodeFor, resample, toMulaw } from '../../src/audio/pcm.js';
import { chunks, clearMessage, markMessage, mediaMessage, readStreamMessage } from '../../src/transports/voicebot.js';

describe('reading Exotel frames', () => {
  it('a start with numbers as strings, custom parameters and the media format', () => {
    const start = readStreamMessage(JSON.stringify({
      event: 'start',
      sequence_number: '1',
      stream_sid: 'stream-fake-1',
      start: {
        stream_sid: 'stream-fake-1',
        call_sid: 'fakecallsid0001',
        account_sid: 'fake-account',
        from: '09000000001',
        to: '08000000000',
        custom_parameters: { call_id: 'call_fake', n: 7 },
        media_format: { encoding: 'base64', sample_rate: '16000', bit_rate: '256kbps' },
      },
    }));
    expect(start).toEqual({
      event: 'start',
      streamSid: 'stream-fake-1',
      callSid: 'fakecallsid0001',
      accountSid: 'fake-account',
      from: '09000000001',
      to: '08000000000',
      customParameters: { call_id: 'call_fake', n: '7' },
      format: { encoding: 'pcm16', sampleRate: 16_000 },
    });
  });

  it('camelCase ids, μ-law, odd rates and missing formats are all understood', () => {
    const start = readStreamMessage(JSON.stringify({ event: 'start', streamSid: 's1', start: { callSid: 'c1', media_format: { encoding: 'audio/x-mulaw', sample_rate: 11025 } } }));
    // A rate we cannot play, or none: the session uses the rate its stream URL asked for.
    expect(start).toMatchObject({ event: 'start', streamSid: 's1', callSid: 'c1', customParameters: {}, format: { encoding: 'mulaw', sampleRate: undefined } });
    expect(readStreamMessage('{"event":"start","start":{"stream_sid":"s2"}}')).toMatchObject({ format: { encoding: 'pcm16', sampleRate: undefined } });
    expect(readStreamMessage('{"event":"start","start":{"stream_sid":"s3","media_format":{"sample_rate":8000}}}')).toMatchObject({ format: { sampleRate: 8_000 } });
  });

  it('keys, marks and stops; numbers or strings', () => {
    expect(readStreamMessage('{"event":"dtmf","sequence_number":5,"dtmf":{"digit":3,"duration":"120"}}')).toEqual({ event: 'dtmf', digit: '3' });
    expect(readStreamMessage('{"event":"dtmf","dtmf":{"digit":"#"}}')).toEqual({ event: 'dtmf', digit: '#' });
    expect(readStreamMessage('{"event":"mark","mark":{"name":"prompt-1"}}')).toEqual({ event: 'mark', name: 'prompt-1' });
    expect(readStreamMessage('{"event":"stop","stop":{"reason":"callended"}}')).toEqual({ event: 'stop', reason: 'callended' });
    expect(readStreamMessage('{"event":"stop"}')).toEqual({ event: 'stop', reason: undefined });
  });

  it('what cannot be read is an error, never an exception', () => {
    for (const junk of ['', 'null', '[]', '"x"', '{"event":1}', '{"event":"dtmf","dtmf":{"digit":"11"}}', '{"event":"dtmf"}', '{"event":"mark"}', '{"event":"start"}']) {
      expect(readStreamMessage(junk)).toHaveProperty('error');
    }
    expect(readStreamMessage('{"event":"whatever"}')).toEqual({ event: 'other', name: 'whatever' });
  });
});

describe('writing our frames', () => {
  it('media, mark and clear carry both stream_sid and streamSid; media its chunk, sequence number and timestamp (§6.4)', () => {
    expect(JSON.parse(mediaMessage('s1', Buffer.from([1, 2, 3]), 4, 300))).toEqual({
      event: 'media',
      stream_sid: 's1',
      streamSid: 's1',
      media: { chunk: '4', sequenceNumber: '4', timestamp: '300', payload: 'AQID' },
    });
    expect(JSON.parse(markMessage('s1', 'prompt-2'))).toEqual({ event: 'mark', stream_sid: 's1', streamSid: 's1', mark: { name: 'prompt-2' } });
    expect(JSON.parse(clearMessage('s1'))).toEqual({ event: 'clear', stream_sid: 's1', streamSid: 's1' });
  });

  it('audio is cut into equal chunks, multiples of 320 bytes, at least 3.2 KB; the last padded with silence', () => {
    const pcm = Buffer.alloc(7_000, 1);
    const eight = chunks(pcm, { encoding: 'pcm16', sampleRate: 8_000 });
    expect(eight.map((c) => c.length)).toEqual([3_200, 3_200, 3_200]);
    expect(eight[2]!.subarray(600).every((b) => b === 0)).toBe(true);
    expect(eight[2]!.subarray(0, 600).every((b) => b === 1)).toBe(true);
    expect(chunks(Buffer.alloc(10_000), { encoding: 'pcm16', sampleRate: 24_000 }).map((c) => c.length)).toEqual([4_800, 4_800, 4_800]);
    const mulaw = chunks(Buffer.alloc(100), { encoding: 'mulaw', sampleRate: 8_000 });
    expect(mulaw.map((c) => c.length)).toEqual([3_200]);
    expect(mulaw[0]!.subarray(100).every((b) => b === 0xff)).toBe(true);
    expect(chunks(Buffer.alloc(0), { encoding: 'pcm16', sampleRate: 8_000 })).toEqual([]);
  });
});

describe('audio conversion', () => {
  const samples = (...values: number[]) => {
    const pcm = Buffer.alloc(values.length * 2);
    values.forEach((v, i) => pcm.writeInt16LE(v, i * 2));
    return pcm;
  };
  const read = (pcm: Buffer) => Array.from({ length: pcm.length / 2 }, (_, i) => pcm.readInt16LE(i * 2));

  it('8 kHz to 16 and 24 kHz by linear interpolation', () => {
    expect(read(resample(samples(0, 100, -100), 16_000))).toEqual([0, 50, 100, 0, -100, -100]);
    expect(read(resample(samples(0, 300), 24_000))).toEqual([0, 100, 200, 300, 300, 300]);
    expect(resample(samples(5), 8_000)).toEqual(samples(5));
  });

  it('G.711 μ-law: silence is 0xFF, the extremes 0x80 and 0x00', () => {
    expect([...toMulaw(samples(0, 32_767, -32_768, 1_000, -1_000))]).toEqual([0xff, 0x80, 0x00, 0xce, 0x4e]);
    expect(encodeFor(samples(0, 0), { encoding: 'mulaw', sampleRate: 16_000 }).length).toBe(4);
  });
});
