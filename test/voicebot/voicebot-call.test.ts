// Voicebot mode end to end over a real WebSocket on loopback: the simulator speaks reference §6 as Exotel
// and measures what our server sends (chunk sizes and alignment, pacing, marks); keys drive the same flow.
import { rmSync } from 'node:fs';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamPeer } from '../../src/simulator/voicebot-call.js';
import type { SimulatedCall } from '../../src/simulator/simulated-call.js';
import { order, startHarness, voicebotMode, type Harness } from '../helpers/harness.js';
import { testPrompts } from '../helpers/prompts.js';

const TOKEN = 'test-applet-path-token-0123456789abcdef';
let prompts: ReturnType<typeof testPrompts>;
let h: Harness;
let wide: Harness;
let agent: Harness;
let byHand: Harness;
beforeAll(async () => {
  prompts = testPrompts();
  [h, wide, agent, byHand] = await Promise.all([
    startHarness(voicebotMode(prompts.dir)),
    startHarness({ ...voicebotMode(prompts.dir), VOICEBOT_SAMPLE_RATE: '16000' }),
    startHarness({ ...voicebotMode(prompts.dir), AGENT_NUMBER: '9000000020' }),
    startHarness(voicebotMode(prompts.dir)),
  ]);
  // These calls' streams are driven by the test, frame by frame.
  byHand.simulator.installVoicebotRecipe('test-app', {
    streamUrl: byHand.app.links.applet('voicebot', TOKEN),
    connectUrl: byHand.app.links.applet('connect', TOKEN),
    passthruUrl: byHand.app.links.applet('passthru', TOKEN),
    byHand: true,
  });
});
afterAll(async () => {
  await Promise.all([h.close(), wide.close(), agent.close(), byHand.close()]);
  prompts.remove();
});

async function place(harness: Harness, fields: Record<string, unknown>) {
  const placed = await harness.trigger(order(fields));
  expect(placed.status, JSON.stringify(placed.body)).toBe(200);
  return placed.body as { call_id: string; call_sid: string };
}

/** Every chunk aligned and in range; each prompt sent at about real time, never far ahead of playback. */
function expectWellPaced(call: SimulatedCall, chunkMs: number) {
  const stream = call.stream!;
  expect(call.problem).toBeUndefined();
  expect(stream.chunkBytes.length).toBeGreaterThan(0);
  for (const size of stream.chunkBytes) {
    expect(size % 320).toBe(0);
    expect(size).toBeGreaterThanOrEqual(3_200);
    expect(size).toBeLessThanOrEqual(100_000);
  }
  // Three chunks may go ahead of real time; the rest follow the clock. The same timer jitter is allowed both
  // ways: the simulator shares this process's event loop, so a chunk can be read late (the first, under load).
  const jitterMs = 60;
  expect(stream.maxLeadMs).toBeLessThanOrEqual(3 * chunkMs + jitterMs);
  for (const prompt of stream.prompts.filter((p) => !p.cleared)) {
    expect(prompt.sentOverMs).toBeGreaterThanOrEqual(prompt.audioMs - 3 * chunkMs - jitterMs);
  }
}

describe('voicebot mode', () => {
  it('asks, takes 3 then 2 0 #, and every prompt is aligned, paced audio followed by a mark that comes back', async () => {
    const placed = await place(h, { vendor_phone: '9000000003', order_id: '4071', order_amount: 550 });
    const simulated = await h.simulator.finished(placed.call_sid);
    expectWellPaced(simulated, 200);
    const stream = simulated.stream!;
    // Found by the call id our stream URL carried, as a custom parameter.
    expect(stream.customParameters).toEqual({ call_id: placed.call_id });
    // Greeting + menu, the minutes question, the closing: each ended by its own mark, each played out.
    expect(stream.prompts.map((p) => [p.mark, p.echoed, p.cleared])).toEqual([
      ['prompt-1', true, false],
      ['prompt-2', true, false],
      ['prompt-3', true, false],
    ]);
    // The greeting says the order number and amount digit by digit: far longer than the closing.
    expect(stream.prompts[0]!.audioMs).toBeGreaterThan(1_000);
    expect(stream.closedBy).toBe('server');
    expect(stream.closeCode).toBe(1000);
    expect(simulated.pressed).toEqual(['3', '20']);

    const call = await h.settled(placed.call_id);
    expect(call).toMatchObject({ outcome: 'accepted', prep_time_minutes: 20, status: 'completed' });
    expect(call.digits.map((d: { step: string; digits: string }) => [d.step, d.digits])).toEqual([['menu', '3'], ['prep_time', '20']]);
    const kinds = h.app.store.events(placed.call_id).map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['voicebot_stream_started', 'exotel_request']));
    expect(kinds).not.toContain('voicebot_stream_closed');
  });

  it('a key pressed while the greeting plays stops it (clear) and answers the menu', async () => {
    const placed = await place(h, { vendor_phone: '9000000015', order_id: '4072' });
    const simulated = await h.simulator.finished(placed.call_sid);
    expectWellPaced(simulated, 200);
    const stream = simulated.stream!;
    expect(stream.clears).toBe(1);
    // The greeting was cut before its mark; the closing played out.
    expect(stream.prompts[0]).toMatchObject({ cleared: true, echoed: false });
    expect(stream.prompts.at(-1)).toMatchObject({ cleared: false, echoed: true });
    expect(simulated.heard[0]).toBe('[stream audio cut by a key]');
    expect(await h.settled(placed.call_id)).toMatchObject({ outcome: 'accepted', prep_time_minutes: null });
  });

  it('silence after each prompt follows the flow: two re-asks, then no_response', async () => {
    const placed = await place(h, { vendor_phone: '9000000006', order_id: '4073' });
    const simulated = await h.simulator.finished(placed.call_sid);
    expectWellPaced(simulated, 200);
    // Greeting+menu, two re-asks, the closing.
    const prompts = simulated.stream!.prompts;
    expect(prompts.map((p) => p.echoed)).toEqual([true, true, true, true]);
    // Each wait for keys starts when the prompt has played (its mark came back), not when it was sent:
    // the next prompt comes at least the step's 6 s (× the test's 0.1) after the previous mark's echo.
    for (let i = 1; i < prompts.length; i++) expect(prompts[i]!.startedAt - prompts[i - 1]!.echoedAt!).toBeGreaterThanOrEqual(600 - 30);
    expect(await h.settled(placed.call_id)).toMatchObject({ outcome: 'no_response', digits: [] });
  });

  it('a bare # after two silences: asked again, not a third silence, and the timeline shows it pressed', async () => {
    const placed = await place(h, { vendor_phone: '9000000016', order_id: 'VB-BARE-HASH' });
    await h.simulator.finished(placed.call_sid);
    expect(await h.settled(placed.call_id)).toMatchObject({ outcome: 'accepted', digits: [{ step: 'menu', digits: '1' }] });
    const read = await h.get(`/api/calls/${placed.call_id}?include=events`);
    const turns = (read.body.call.events as Array<{ kind: string; step: string; pressed: string | null; said: string | null }>)
      .filter((e) => e.kind === 'exotel_request' && e.said !== null)
      .map((e) => [e.step, e.pressed, e.said!.split('।')[0]]);
    expect(turns).toEqual([
      ['menu', null, 'नमस्ते Test Vendor जी! आपके लिए एक नया ऑर्डर है'],
      ['menu', null, 'हमें आपका जवाब नहीं मिला'],
      ['menu', null, 'हमें आपका जवाब नहीं मिला'],
      ['menu', '#', 'हमें आपका जवाब नहीं मिला'],
      ['menu', '1', 'धन्यवाद! ऑर्डर स्वीकार हो गया है'],
    ]);
  });

  it('at 16 kHz the same prompts arrive resampled, in 100 ms chunks of 3,200 bytes', async () => {
    const [narrow, broad] = await Promise.all([
      place(h, { vendor_phone: '9000000001', order_id: '4074' }).then((p) => h.simulator.finished(p.call_sid)),
      place(wide, { vendor_phone: '9000000001', order_id: '4074' }).then((p) => wide.simulator.finished(p.call_sid)),
    ]);
    expectWellPaced(broad, 100);
    expect(broad.stream!.sampleRate).toBe(16_000);
    expect(new Set(broad.stream!.chunkBytes)).toEqual(new Set([3_200]));
    // The same speech, padded to a whole chunk: within one chunk of the 8 kHz length.
    const duration = (call: SimulatedCall) => call.stream!.prompts[0]!.audioMs;
    expect(Math.abs(duration(broad) - duration(narrow))).toBeLessThanOrEqual(200);
  });

  it('a transfer plays "connecting", closes the stream and the Connect applet dials the agent', async () => {
    const placed = await place(agent, { vendor_phone: '9000000010', order_id: '4075' });
    const simulated = await agent.simulator.finished(placed.call_sid);
    expectWellPaced(simulated, 200);
    expect(simulated.dialled).toEqual([{ number: '+919000000020', status: 'completed' }]);
    expect(await agent.settled(placed.call_id)).toMatchObject({ outcome: 'transferred', agent_status: 'completed' });
  });
});

describe('voicebot streams driven frame by frame', () => {
  async function stream(fields: Record<string, unknown> = {}) {
    const placed = await place(byHand, { vendor_phone: '9000000001', ...fields });
    const peer = await byHand.simulator.streamOf(placed.call_sid);
    return { placed, peer, simulated: byHand.simulator.calls.get(placed.call_sid)! };
  }
  const played = (peer: StreamPeer, count: number) =>
    new Promise<void>((resolve) => {
      let seen = 0;
      peer.onPlayed = () => ++seen === count && resolve();
    });

  it('minutes end after a pause without # (the inter-digit timeout)', async () => {
    const { placed, peer } = await stream({ order_id: '4080' });
    await played(peer, 1);
    await peer.press('3');
    await played(peer, 1);
    await peer.press('25');
    await peer.closed();
    expect(await byHand.settled(placed.call_id)).toMatchObject({ outcome: 'accepted', prep_time_minutes: 25 });
  });

  it('stop (callended) mid-question ends the conversation: no_response once the call completes', async () => {
    const { placed, peer } = await stream({ order_id: '4081' });
    await played(peer, 1);
    await peer.hangUp('callended');
    const call = await byHand.settled(placed.call_id);
    expect(call).toMatchObject({ outcome: 'no_response', status: 'completed', digits: [] });
    const events = byHand.app.store.events(placed.call_id);
    expect(events.find((e) => e.kind === 'voicebot_stream_stopped')?.params).toMatchObject({ reason: 'callended' });
  });

  it('a socket that closes without stop is a hang-up too', async () => {
    const { placed, peer } = await stream({ order_id: '4082' });
    await played(peer, 1);
    await peer.hangUp('callended', false);
    expect(await byHand.settled(placed.call_id)).toMatchObject({ outcome: 'no_response' });
    expect(byHand.app.store.events(placed.call_id).map((e) => e.kind)).toContain('voicebot_stream_closed');
  });

  it('a second stream for a live call is refused; the first goes on', async () => {
    const { placed, peer, simulated } = await stream({ order_id: '4083' });
    await played(peer, 1);
    const second = new StreamPeer({ ...simulated, problem: undefined } as SimulatedCall, peer.report.url, 8_000, peer.report.customParameters);
    await second.open(undefined);
    await second.closed();
    expect(second.report).toMatchObject({ closedBy: 'server', closeCode: 1008, chunkBytes: [] });
    await peer.press('2');
    await peer.closed();
    expect(await byHand.settled(placed.call_id)).toMatchObject({ outcome: 'cancelled' });
    expect(byHand.app.store.events(placed.call_id).map((e) => e.kind)).toContain('voicebot_stream_refused');
  });

  it('malformed frames, unknown events and bad keys change nothing; the call still works', async () => {
    const { placed, peer, simulated } = await stream({ order_id: '4084' });
    for (const junk of [
      'not json',
      '[]',
      '{"event":42}',
      '{"no":"event"}',
      '{"event":"dance","stream_sid":"x"}',
      '{"event":"dtmf","dtmf":{"digit":"12"}}',
      '{"event":"dtmf","dtmf":{}}',
      '{"event":"mark","mark":{}}',
      '{"event":"start","start":{}}',
      `{"event":"media","media":{"payload":"${'A'.repeat(50_000)}"}}`,
      '\u0000\u0001\u0002',
    ]) peer.sendRaw(junk);
    await played(peer, 1);
    await peer.press('1');
    await peer.closed();
    expect(simulated.problem).toBeUndefined();
    expect(await byHand.settled(placed.call_id)).toMatchObject({ outcome: 'accepted', digits: [expect.objectContaining({ step: 'menu', digits: '1' })] });
  });

  it('an oversized frame closes only its own stream (a hang-up); the server goes on', async () => {
    const { placed, peer } = await stream({ order_id: '4085' });
    peer.sendRaw(JSON.stringify({ event: 'media', media: { payload: 'A'.repeat(400_000) } }));
    await peer.closed();
    expect(peer.report.closeCode).toBe(1009);
    expect(await byHand.settled(placed.call_id)).toMatchObject({ outcome: 'no_response' });
    const next = await place(h, { vendor_phone: '9000000001', order_id: '4086' });
    expect(await h.settled(next.call_id)).toMatchObject({ outcome: 'accepted' });
  });

  it('a flood of media frames on one stream neither blocks nor slows another call', async () => {
    const { placed, peer } = await stream({ order_id: '4087' });
    const frame = JSON.stringify({ event: 'media', stream_sid: peer.streamSid, media: { chunk: 1, timestamp: 1, payload: Buffer.alloc(1_600).toString('base64') } });
    let flooding = true;
    const flood = (async () => {
      for (let sent = 0; flooding && sent < 200_000; sent++) {
        peer.sendRaw(frame);
        if (sent % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const other = await place(h, { vendor_phone: '9000000003', order_id: '4088' });
    const simulated = await h.simulator.finished(other.call_sid);
    flooding = false;
    await flood;
    expectWellPaced(simulated, 200);
    expect(await h.settled(other.call_id)).toMatchObject({ outcome: 'accepted', prep_time_minutes: 20 });
    await peer.press('1');
    await peer.closed();
    expect(await byHand.settled(placed.call_id)).toMatchObject({ outcome: 'accepted' });
  });

  it('when the Voicebot URL step fails inside, Exotel still gets a stream URL, and the stream finds the call by CallSid', async () => {
    const failing = await startHarness(voicebotMode(prompts.dir));
    try {
      const real = failing.app.store.byExotelRequest.bind(failing.app.store);
      let failed = 0;
      failing.app.store.byExotelRequest = (sid, customField) => {
        if (failed++ === 0) throw new Error('disk I/O error');
        return real(sid, customField);
      };
      const placed = await place(failing, { vendor_phone: '9000000001', order_id: '4095' });
      const simulated = await failing.simulator.finished(placed.call_sid);
      expect(simulated.problem).toBeUndefined();
      const urlStep = simulated.requests[0]!;
      // Exactly application/json, as the step's own answer is (reference §5.2): no charset parameter.
      expect([urlStep.method, urlStep.url, urlStep.status, urlStep.contentType]).toEqual(['GET', failing.app.links.applet('voicebot', TOKEN), 200, 'application/json']);
      expect(JSON.parse(urlStep.body)).toEqual({ url: failing.app.links.voicebotStream(TOKEN, 8_000) });
      expect(await failing.settled(placed.call_id)).toMatchObject({ outcome: 'accepted' });
    } finally {
      await failing.close();
    }
  });

  it('an unknown call hears the apology, then the stream closes', async () => {
    const stranger = { sid: 'sim-not-ours', accountSid: 'test-account', from: '09000000001', callerId: '08000000000', heard: [] as string[], problem: undefined } as unknown as SimulatedCall;
    const url = byHand.app.links.voicebotStream(TOKEN, 8_000);
    const peer = new StreamPeer(stranger, url, 8_000, {});
    expect(await peer.open(undefined)).toBe(true);
    await peer.closed();
    expect(stranger.problem).toBeUndefined();
    expect(peer.report.prompts).toHaveLength(1);
    expect(peer.report.closeCode).toBe(1000);
    const unknown = byHand.db.prepare("SELECT params_json FROM call_events WHERE kind = 'voicebot_unknown_call'").all() as Array<{ params_json: string }>;
    expect(unknown.map((row) => JSON.parse(row.params_json).call_sid)).toContain('sim-not-ours');
  });

  it('a stream naming our call id with another CallSid is refused; the call\'s own stream goes on', async () => {
    const { placed, peer, simulated } = await stream({ order_id: '4089' });
    await played(peer, 1);
    const impostor = new StreamPeer({ ...simulated, sid: 'sim-impostor-sid', problem: undefined } as SimulatedCall, peer.report.url, 8_000, { call_id: placed.call_id });
    await impostor.open(undefined);
    await impostor.closed();
    expect(impostor.report).toMatchObject({ closedBy: 'server', closeCode: 1008, chunkBytes: [] });
    await peer.press('1');
    await peer.closed();
    expect(await byHand.settled(placed.call_id)).toMatchObject({ outcome: 'accepted' });
  });

  it('a call settled while its question waits (the status came first) is hung up, not re-asked forever', async () => {
    const { placed, peer } = await stream({ order_id: '4090' });
    await played(peer, 1);
    const status = new URL(byHand.app.links.statusCallback(placed.call_id, 1));
    const settled = await request(`${byHand.baseUrl}${status.pathname}${status.search}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `CallSid=${placed.call_sid}&Status=completed`,
    });
    expect(settled.statusCode).toBe(200);
    await settled.body.dump();
    await peer.closed();
    expect(peer.report).toMatchObject({ closedBy: 'server', closeCode: 1000 });
    // The greeting only: the wait for keys ran out on a settled call, and the stream closed.
    expect(peer.report.prompts).toHaveLength(1);
  });

  // A socket left open would hold a file descriptor for good, and keep a deploy's close from ever finishing.
  it.each([
    ['any other route', '/health', /^HTTP\/1\.1 200/],
    ['a path that cannot be decoded', '/%', /^HTTP\/1\.1 400/],
    ['a stream path that cannot be decoded', `/voicebot/${TOKEN}%`, /^HTTP\/1\.1 400/],
    ['an API path that cannot be decoded', '/api/calls/%ZZ', /^HTTP\/1\.1 400/],
  ])('an upgrade request to %s is answered and its socket closed, not left open', async (_name, path, status) => {
    const { connect } = await import('node:net');
    const socket = connect(Number(new URL(byHand.baseUrl).port), '127.0.0.1');
    const closed = new Promise<string>((resolve) => {
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString()));
      socket.on('close', () => resolve(answer));
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
    const answer = await Promise.race([closed, new Promise<string>((resolve) => setTimeout(() => resolve('still open'), 3_000))]);
    socket.destroy();
    expect(answer).toMatch(status);
  });

  it('a wrong path token is refused before the upgrade; a plain GET is told to upgrade', async () => {
    const wrong = new StreamPeer({ sid: 'x', heard: [], problem: undefined } as unknown as SimulatedCall, byHand.app.links.voicebotStream('wrong-token-wrong-token-wrong-token', 8_000), 8_000, {});
    expect(await wrong.open(undefined)).toBe(false);
    const plain = await request(`${byHand.baseUrl}/voicebot/${TOKEN}`);
    expect(plain.statusCode).toBe(426);
    expect(await plain.body.json()).toMatchObject({ code: 'IVR_ERR_UPGRADE_REQUIRED' });
    const forbidden = await request(`${byHand.baseUrl}/voicebot/wrong-token-wrong-token-wrong-token`);
    expect(forbidden.statusCode).toBe(403);
    await forbidden.body.dump();
  });
});

describe('voicebot shutdown', () => {
  it('a deploy waits for a live stream to finish its conversation, then stops; the log never shows the token', async () => {
    const lines: string[] = [];
    const h2 = await startHarness({ ...voicebotMode(prompts.dir), LOG_LEVEL: 'info', SHUTDOWN_DRAIN_SECONDS: '60' }, { logLines: lines });
    h2.simulator.installVoicebotRecipe('test-app', { streamUrl: h2.app.links.applet('voicebot', TOKEN), connectUrl: h2.app.links.applet('connect', TOKEN), byHand: true });
    const placed = await place(h2, { vendor_phone: '9000000001', order_id: '4091' });
    const peer = await h2.simulator.streamOf(placed.call_sid);
    await new Promise<void>((resolve) => (peer.onPlayed = () => resolve()));
    const stopped = h2.app.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The vendor answers while the server is stopping: the answer counts, then the server stops.
    await peer.press('2');
    await peer.closed();
    await stopped;
    const call = h2.app.store.get(placed.call_id)!;
    expect(call.state.outcome).toBe('cancelled');
    expect(h2.app.store.events(placed.call_id).map((e) => e.kind)).not.toContain('voicebot_stream_closed');
    const log = lines.join('\n');
    expect(log).toContain('/voicebot/<token>');
    expect(log).not.toContain(TOKEN);
    await h2.close();
  });
});

describe('voicebot boot', () => {
  it('refuses to start when a prompt has no recording in DEFAULT_LANGUAGE, naming the missing clips', async () => {
    const partial = testPrompts();
    rmSync(`${partial.dir}/hi-IN/menu_invalid.wav`);
    rmSync(`${partial.dir}/hi-IN/7.wav`);
    try {
      await expect(startHarness(voicebotMode(partial.dir))).rejects.toThrow(
        /EXOTEL_FLOW_MODE=voicebot needs every prompt recorded in PROMPTS_DIR .*hi-IN\/.*menu_invalid\.wav.*7\.wav/,
      );
    } finally {
      partial.remove();
    }
  });
});
