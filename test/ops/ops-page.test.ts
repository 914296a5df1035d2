// The operator's calls page: behind the API token (Basic with the token as password, or Bearer), search by
// order id, CallSid or the number's last digits, a call's timeline, and its recording streamed from Exotel.
// The browser test drives Debian's chromium with playwright-core; without chromium it says so (CI has it).
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordingFetchUrl, recordingHostAllowed } from '../../src/routes/ops.js';
import { storedCall } from '../helpers/calls.js';
import { order, startHarness, type Harness } from '../helpers/harness.js';

const TOKEN = 'ops-test-api-token-0123456789abcdefghij';
const basic = `Basic ${Buffer.from(`ops:${TOKEN}`).toString('base64')}`;
let h: Harness;
let callId: string;
let callSid: string;

beforeAll(async () => {
  h = await startHarness({ API_TOKEN: TOKEN });
  const placed = await h.trigger(order({ order_id: 'OPS-<b>12345</b>', vendor_phone: '9000765403' }), { authorization: `Bearer ${TOKEN}` });
  callId = placed.body.call_id;
  callSid = placed.body.call_sid;
  await h.settled(callId, { authorization: `Bearer ${TOKEN}` });
});
afterAll(async () => h.close());

const get = (path: string, authorization?: string) => h.app.inject({ method: 'GET', url: path, headers: authorization ? { authorization } : {} });

describe('/ops', () => {
  it('asks a browser for the token', async () => {
    const answer = await get('/ops');
    expect(answer.statusCode).toBe(401);
    expect(answer.headers['www-authenticate']).toBe('Basic realm="exotel-caller ops", charset="UTF-8"');
    expect((await get('/ops', `Basic ${Buffer.from('ops:wrong').toString('base64')}`)).statusCode).toBe(401);
    expect((await get(`/ops/calls/${callId}/recording`)).statusCode).toBe(401);
    // A percent-encoded path is the same route: still behind the token.
    for (const path of ['/%6Fps', `/%6fps/calls/${callId}`, `/%6Fps/calls/${callId}/recording`]) expect((await get(path)).statusCode, path).toBe(401);
    expect((await get('/ops', basic)).statusCode).toBe(200);
    expect((await get('/ops', `Bearer ${TOKEN}`)).statusCode).toBe(200);
  });

  it.each([
    ['the order id', 'OPS-<b>12345</b>'],
    ['the last digits of the number', '765403'],
    // The whole number, as Exotel's dashboard shows it (0…), in E.164, or as a person writes it.
    ['the number in E.164', '+919000765403'],
    ['the number as Exotel shows it', '09000765403'],
    ['the number with a space', '90007 65403'],
    ['the CallSid', () => callSid],
  ])('finds the call by %s, escaping what it shows', async (_name, q) => {
    const query = typeof q === 'function' ? q() : q;
    const page = await get(`/ops?q=${encodeURIComponent(query)}`, basic);
    expect(page.body).toContain(`<a href="/ops/calls/${callId}">OPS-&lt;b&gt;12345&lt;/b&gt;</a>`);
    expect(page.body).not.toContain('<b>12345</b>');
  });

  it("shows a call's timeline: what was asked, the keys at each step, callbacks, attempts, delivery", async () => {
    const page = (await get(`/ops/calls/${callId}`, basic)).body;
    expect(page).toContain('<td id="outcome" class="outcome">accepted</td>');
    expect(page).toContain('<td id="digits">menu: 3, prep_time: 20</td>');
    // What we asked and what we said, in the vendor's words, escaped (the order id is hostile here).
    expect(page).toContain(
      'Exotel asked /exoml/vendor-greeting<br><span class="said">We said: नमस्ते Test Vendor जी! आपके लिए एक नया ऑर्डर है। ऑर्डर नंबर OPS-&lt;b&gt;12345&lt;/b&gt;। राशि 550 रुपये। सामान: Tomato 2kg। ऑर्डर स्वीकार करने के लिए 1 दबाएं। ऑर्डर रद्द करने के लिए 2 दबाएं। तैयारी का समय बताने के लिए 3 दबाएं। English के लिए 9 दबाएं।</span>',
    );
    expect(page).toContain('Pressed 3 at menu<br><span class="said">We said: तैयारी का समय मिनटों में दबाएं, फिर हैश दबाएं। जैसे 20 मिनट के लिए 2 0 और हैश।</span>');
    expect(page).toContain('Pressed 20 at prep_time<br><span class="said">We said: तैयारी का समय 20 मिनट सेट हो गया है। ऑर्डर कन्फ़र्म हो गया। धन्यवाद!</span>');
    expect(page).toContain('Exotel: status completed');
    expect(page).toContain(`<audio id="recording" controls preload="none" src="/ops/calls/${callId}/recording"></audio>`);
  });

  it('streams the recording, fetched from Exotel with the API credentials', async () => {
    const recording = await get(`/ops/calls/${callId}/recording`, basic);
    expect(recording.statusCode).toBe(200);
    expect(recording.headers['content-type']).toBe('audio/mpeg');
    expect(recording.rawPayload.subarray(0, 3).toString('ascii')).toBe('ID3');
  });

  it('answers the byte ranges a browser asks for (to seek; Safari plays nothing without them), by call id or CallSid', async () => {
    const whole = (await get(`/ops/calls/${callId}/recording`, basic)).rawPayload;
    for (const key of [callId, callSid]) {
      const part = await h.app.inject({ method: 'GET', url: `/ops/calls/${key}/recording`, headers: { authorization: basic, range: 'bytes=0-9' } });
      expect([part.statusCode, part.headers['content-range'], part.headers['accept-ranges'], part.headers['content-type']]).toEqual([206, `bytes 0-9/${whole.length}`, 'bytes', 'audio/mpeg']);
      expect(part.rawPayload).toEqual(whole.subarray(0, 10));
    }
    const beyond = await h.app.inject({ method: 'GET', url: `/ops/calls/${callId}/recording`, headers: { authorization: basic, range: `bytes=${whole.length}-` } });
    expect([beyond.statusCode, beyond.headers['content-range']]).toEqual([416, `bytes */${whole.length}`]);
    // A suffix longer than the file is all of it; a header that is not one range is ignored (the whole file).
    const suffix = await h.app.inject({ method: 'GET', url: `/ops/calls/${callId}/recording`, headers: { authorization: basic, range: 'bytes=-100000' } });
    expect([suffix.statusCode, suffix.headers['content-range'], suffix.rawPayload.length]).toEqual([206, `bytes 0-${whole.length - 1}/${whole.length}`, whole.length]);
    for (const odd of ['bytes=0-1,5-6', 'bytes=5-2', 'pages=1']) {
      const ignored = await h.app.inject({ method: 'GET', url: `/ops/calls/${callId}/recording`, headers: { authorization: basic, range: odd } });
      expect([odd, ignored.statusCode, ignored.rawPayload.length]).toEqual([odd, 200, whole.length]);
    }
  });

  it('plays through Call Details\' pre-signed URL when the recording URL refuses our credentials (as S3 does)', async () => {
    h.simulator.setFaults({ recordings: 'presigned-only' });
    try {
      // A browser asks for the whole and for ranges, some at once, then more as it seeks: one Call Details
      // request for them all (a lookup on its way is shared, and the URL kept while valid).
      const [whole, ...parts] = await Promise.all(
        [undefined, 'bytes=2-4', 'bytes=100-', 'bytes=-10'].map((range) =>
          h.app.inject({ method: 'GET', url: `/ops/calls/${callId}/recording`, headers: { authorization: basic, ...(range ? { range } : {}) } }),
        ),
      );
      expect([whole!.statusCode, whole!.headers['content-type']]).toEqual([200, 'audio/mpeg']);
      expect(whole!.rawPayload.subarray(0, 3).toString('ascii')).toBe('ID3');
      expect(parts.map((p) => p.statusCode)).toEqual([206, 206, 206]);
      const part = await h.app.inject({ method: 'GET', url: `/ops/calls/${callId}/recording`, headers: { authorization: basic, range: 'bytes=2-4' } });
      expect([part.statusCode, part.rawPayload.toString('latin1')]).toEqual([206, whole!.rawPayload.subarray(2, 5).toString('latin1')]);
      expect(h.simulator.detailsAsked.filter((sid) => sid === callSid)).toHaveLength(1);
      // While Exotel holds every request back (a 429's pause), no Call Details request goes for a recording.
      const other = storedCall(h.app.store, { exotelCallSid: 'sidrecordingpaused00000000000001' }).id;
      h.db.prepare('UPDATE calls SET recording_url = ? WHERE id = ?').run(`${h.simulator.url}/recordings/test-account/sidrecordingpaused00000000000001.mp3`, other);
      h.app.ledger.pauseUntil(new Date(Date.now() + 60_000));
      try {
        const paused = await get(`/ops/calls/${other}/recording`, basic);
        expect([paused.statusCode, paused.headers['retry-after']]).toEqual([503, '30']);
        expect(h.simulator.detailsAsked).not.toContain('sidrecordingpaused00000000000001');
      } finally {
        h.db.prepare("DELETE FROM service_state WHERE key = 'exotel_paused_until'").run();
      }

    } finally {
      h.simulator.setFaults({});
    }
  });

  it('a recording Exotel will not give, nor Call Details, is a 502 saying what Exotel answered', async () => {
    const gone = storedCall(h.app.store, { exotelCallSid: 'sidrecordinggone0000000000000001' }).id;
    h.db.prepare('UPDATE calls SET recording_url = ? WHERE id = ?').run(`${h.simulator.url}/recordings/test-account/sidrecordinggone0000000000000001.mp3`, gone);
    const answer = await get(`/ops/calls/${gone}/recording`, basic);
    expect([answer.statusCode, answer.body]).toEqual([502, 'Exotel did not give the recording (HTTP 404)']);
  });

  it('serves what Exotel sends as audio, never as a page on the /ops origin', async () => {
    // An allowed host answering something else (here the simulated API's JSON, fetched with our credentials).
    h.db.prepare('UPDATE calls SET recording_url = ? WHERE id = ?').run(`${h.simulator.url}/v1/Accounts/test-account/Calls.json`, callId);
    try {
      const answer = await get(`/ops/calls/${callId}/recording`, basic);
      expect([answer.statusCode, answer.headers['content-type'], answer.headers['x-content-type-options']]).toEqual([200, 'audio/mpeg', 'nosniff']);
    } finally {
      h.db.prepare('UPDATE calls SET recording_url = ? WHERE id = ?').run(h.simulator.calls.get(callSid)!.recordingUrl, callId);
    }
  });

  it.each([
    ['https://s3.ap-southeast-1.amazonaws.com/exotelrecordings/acct/sid.mp3', true],
    ['https://s3-ap-southeast-1.amazonaws.com/exotelrecordings/acct/sid.mp3', true],
    ['https://s3.amazonaws.com/exotelrecordings/acct/sid.mp3', true],
    ['https://exotelrecordings.s3.ap-south-1.amazonaws.com/acct/sid.mp3', true],
    ['https://recordings.exotel.com/acct/sid.mp3', true],
    ['https://s3attacker.s3.amazonaws.com/exotelrecordings/x.mp3', false],
    ['https://s3-x.s3-website.us-east-1.amazonaws.com/exotelrecordings/x.mp3', false],
    ['https://s3.amazonaws.com/someone-else/x.mp3', false],
    ['http://s3.amazonaws.com/exotelrecordings/x.mp3', false],
    ['https://evilexotel.com/x.mp3', false],
    ['https://exotel.com.attacker.example/x.mp3', false],
    ['http://169.254.169.254/latest/meta-data', false],
  ])('the recording host check: %s → %s', (url, allowed) => {
    expect(recordingHostAllowed('http://127.0.0.1:9', url)).toBe(allowed);
  });

  it.each([
    ['http://s3.amazonaws.com/exotelrecordings/x.mp3', 'https://s3.amazonaws.com/exotelrecordings/x.mp3'],
    ['HTTP://recordings.exotel.com/acct/sid.mp3', 'https://recordings.exotel.com/acct/sid.mp3'],
    ['https://recordings.exotel.com/acct/sid.mp3', 'https://recordings.exotel.com/acct/sid.mp3'],
    ['http://127.0.0.1:9/recordings/sid.mp3', 'http://127.0.0.1:9/recordings/sid.mp3'],
    ['http://169.254.169.254/latest/meta-data', undefined],
    ['http://s3.amazonaws.com/someone-else/x.mp3', undefined],
  ])('an Exotel recording given over http is fetched over https: %s → %s', (url, fetched) => {
    expect(recordingFetchUrl('http://127.0.0.1:9', url)).toBe(fetched);
  });

  it('never fetches a recording URL outside Exotel', async () => {
    h.db.prepare('UPDATE calls SET recording_url = ? WHERE id = ?').run('http://169.254.169.254/latest/meta-data', callId);
    try {
      expect((await get(`/ops/calls/${callId}/recording`, basic)).statusCode).toBe(404);
    } finally {
      h.db.prepare('UPDATE calls SET recording_url = ? WHERE id = ?').run(h.simulator.calls.get(callSid)!.recordingUrl, callId);
    }
  });
});

/** The part of a browser's <audio> the test uses (the project's types have no DOM). */
interface AudioElement {
  muted: boolean;
  currentTime: number;
  duration: number;
  error: { message: string } | null;
  play(): Promise<void>;
  addEventListener(event: 'timeupdate', listener: () => void): void;
}

const chromium = (() => {
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined;
  }
})();
if (!chromium) {
  const message = 'The /ops browser test did not run: chromium is not installed. Enable it with: apt-get install -y chromium (.ci/run does this).';
  console.warn(message);
  // CI always runs it: there, a missing browser is a failure, not a skip.
  if (process.env.CI) it('runs the /ops browser test', () => expect.fail(message));
}

describe.skipIf(!chromium)('/ops in a real browser (Debian chromium, playwright-core)', () => {
  it('an operator finds the order, opens its call, reads what was pressed, and the recording plays', async () => {
    const { chromium: playwright } = await import('playwright-core');
    const browser = await playwright.launch({
      executablePath: chromium!,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const context = await browser.newContext({ httpCredentials: { username: 'ops', password: TOKEN } });
      const page = await context.newPage();
      await page.goto(`${h.baseUrl}/ops`);
      await page.fill('input[name=q]', 'OPS-<b>12345</b>');
      await page.click('button[type=submit]');
      await page.click('#calls a');
      await page.waitForSelector('#outcome');
      expect(await page.textContent('#order')).toBe('OPS-<b>12345</b>');
      expect(await page.textContent('#outcome')).toBe('accepted');
      expect(await page.textContent('#digits')).toBe('menu: 3, prep_time: 20');
      expect(await page.locator('#timeline tr').count()).toBeGreaterThan(3);
      // What the vendor heard last, as the operator reads it.
      expect(await page.locator('#timeline .said').last().textContent()).toBe('We said: तैयारी का समय 20 मिनट सेट हो गया है। ऑर्डर कन्फ़र्म हो गया। धन्यवाद!');
      const src = await page.getAttribute('#recording', 'src');
      const fetched = await page.evaluate(async (url) => {
        const response = await fetch(url!);
        return { status: response.status, type: response.headers.get('content-type'), bytes: (await response.arrayBuffer()).byteLength };
      }, src);
      expect(fetched).toEqual({ status: 200, type: 'audio/mpeg', bytes: 10 + 40 * 417 });
      // And the browser plays it (muted: headless chromium lets muted audio play without a click).
      const played = await page.evaluate(async () => {
        const audio = (globalThis as unknown as { document: { querySelector(selector: string): AudioElement } }).document.querySelector('#recording');
        audio.muted = true;
        await audio.play();
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`not playing: ${audio.error?.message ?? 'no error'}`)), 10_000);
          audio.addEventListener('timeupdate', () => audio.currentTime > 0 && (clearTimeout(timer), resolve()));
        });
        return { duration: Math.round(audio.duration * 10) / 10, error: audio.error?.message ?? null };
      });
      expect(played).toEqual({ duration: 1, error: null });
    } finally {
      await browser.close();
    }
  }, 60_000);
});


