// Recorded prompts: clips stitched into one WAV per passage, served content-addressed with correct HEAD
// answers, played with <Play> in ExoML and audio_url in applet mode; TTS where a recording is missing.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPcm, writeWav } from '../../src/audio/wav.js';
import { vendorOrder } from '../../src/flows/vendor-order.js';
import { readExoml } from '../../src/simulator/exoml-reader.js';
import { APPLET_MODE, order, startHarness, type Harness } from '../helpers/harness.js';
import { samplesOf, testPrompts } from '../helpers/prompts.js';

// Synthetic clips (test/helpers/prompts.ts): a tone each, of a length of its own, so a stitched file's length
// proves what is in it.
let prompts: ReturnType<typeof testPrompts>;
let exoml: Harness;
let applet: Harness;
beforeAll(async () => {
  prompts = testPrompts();
  const dir = prompts.dir;
  [exoml, applet] = await Promise.all([startHarness({ PROMPTS_DIR: dir }), startHarness({ PROMPTS_DIR: dir, ...APPLET_MODE })]);
});
afterAll(async () => {
  await Promise.all([exoml.close(), applet.close()]);
  prompts.remove();
});

async function fetchWav(url: string) {
  const head = await request(url, { method: 'HEAD' });
  await head.body.dump();
  const get = await request(url);
  const body = Buffer.from(await get.body.arrayBuffer());
  return { head, get, body };
}

describe('recorded prompts', () => {
  it('ExoML: the greeting and the menu are <Play>ed from stitched, content-addressed WAVs with valid headers', async () => {
    const placed = await exoml.trigger(order({ order_id: '4071', order_amount: 550, vendor_phone: '9000000003' }));
    const call = await exoml.simulator.finished(placed.body.call_sid);
    expect(call.problem).toBeUndefined();
    const greeting = readExoml(call.requests[0]!.body);
    if ('error' in greeting) throw new Error(greeting.error);
    const [intro, gather] = greeting.verbs;
    expect(intro!.name).toBe('Play');
    expect(intro!.text).toMatch(new RegExp(`^${exoml.baseUrl}/audio/[0-9a-f]{64}\\.wav$`));
    expect(gather!.children.map((c) => c.name)).toEqual(['Play']);

    const { head, get, body } = await fetchWav(intro!.text);
    expect(get.statusCode).toBe(200);
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-type']).toBe('audio/wav');
    expect(head.headers['content-length']).toBe(String(body.length));
    expect(get.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    // RIFF/WAVE, PCM, mono, 8 kHz, 16-bit: readPcm refuses anything else.
    const pcm = readPcm(body);
    expect(body.toString('ascii', 0, 4) + body.toString('ascii', 8, 12)).toBe('RIFFWAVE');
    expect([body.readUInt16LE(20), body.readUInt16LE(22), body.readUInt32LE(24), body.readUInt16LE(34)]).toEqual([1, 1, 8000, 16]);
    const spoken = ['new_order', 'order_number', '4', '0', '7', '1', 'amount', '5', '5', '0', 'rupees'];
    expect(pcm.length).toBe(spoken.reduce((sum, name) => sum + samplesOf(name) * 2, 0));
    expect(body.length).toBe(44 + pcm.length);

    // The closing says the minutes from the digit clips.
    const closing = readExoml(call.requests.at(-1)!.body);
    if ('error' in closing) throw new Error(closing.error);
    const minutes = readPcm((await fetchWav(closing.verbs[0]!.text)).body);
    expect(minutes.length).toBe(['prep_time_is', '2', '0', 'minutes_set'].reduce((sum, n) => sum + samplesOf(n) * 2, 0));
    expect(await exoml.settled(placed.body.call_id)).toMatchObject({ outcome: 'accepted', prep_time_minutes: 20 });
  });

  it('the same audio always has the same URL; an unknown or malformed one is a 404', async () => {
    const one = exoml.app.audio!(vendorOrder, 'hi-IN', ['accepted'], {});
    const two = exoml.app.audio!(vendorOrder, 'hi-IN', ['accepted'], {});
    expect(one).toBe(two);
    expect((await request(`${exoml.baseUrl}/audio/${'0'.repeat(64)}.wav`)).statusCode).toBe(404);
    expect((await request(`${exoml.baseUrl}/audio/..%2f..%2fetc%2fpasswd`)).statusCode).toBe(404);
  });

  it('applet mode: the Gather prompt is an audio_url and the Greeting a WAV URL line', async () => {
    const placed = await applet.trigger(order({ order_id: '88', vendor_phone: '9000000001' }));
    const call = await applet.simulator.finished(placed.body.call_sid);
    expect(call.problem).toBeUndefined();
    const gather = JSON.parse(call.requests[0]!.body) as { gather_prompt: { audio_url: string } };
    expect(Object.keys(gather.gather_prompt)).toEqual(['audio_url']);
    expect(readPcm((await fetchWav(gather.gather_prompt.audio_url)).body).length).toBeGreaterThan(0);
    const greeting = call.requests.find((r) => r.method === 'GET' && r.url.endsWith('/greeting'))!;
    expect(greeting.body).toMatch(new RegExp(`^${applet.baseUrl}/audio/[0-9a-f]{64}\\.wav$`));
    expect(call.heard.at(-1)).toBe(`[play ${greeting.body}]`);
  });

  it('an amount that is not a whole number is spoken by TTS, never read digit by digit wrong', () => {
    expect(exoml.app.audio!(vendorOrder, 'hi-IN', ['intro'], { order_id: '12', order_amount: 250.5 })).toBeUndefined();
    expect(exoml.app.audio!(vendorOrder, 'hi-IN', ['intro'], { order_id: 'ORD-12A', order_amount: 250 })).toBeUndefined();
    expect(exoml.app.audio!(vendorOrder, 'hi-IN', ['intro'], { order_id: '12', order_amount: 250 })).toMatch(/\/audio\/[0-9a-f]{64}\.wav$/);
  });

  it('a language without recordings is spoken by TTS', async () => {
    const placed = await exoml.trigger(order({ order_id: 'EN-1', vendor_phone: '9000555501', language: 'en-IN' }));
    const call = await exoml.simulator.finished(placed.body.call_sid);
    const greeting = readExoml(call.requests[0]!.body);
    if ('error' in greeting) throw new Error(greeting.error);
    expect(greeting.verbs[0]!.name).toBe('Say');
  });

  it('a clip in another format is refused, not played', () => {
    const stereo = writeWav(Buffer.alloc(400));
    stereo.writeUInt16LE(2, 22);
    expect(() => readPcm(stereo, 'stereo.wav')).toThrow('stereo.wav must be PCM, 8 kHz, mono, 16-bit');
    expect(() => readPcm(Buffer.from('not a wav'), 'junk')).toThrow('junk is not a WAV file');
  });
});
