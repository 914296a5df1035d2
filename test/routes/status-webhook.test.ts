// The status webhook in every encoding Exotel uses, repeated and out of order, over real HTTP.
import { FormData, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedCall } from '../helpers/calls.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let h: Harness;
beforeAll(async () => {
  // No redials here: each test reads how one dial's report settles the call.
  h = await startHarness({ REDIAL_MAX_ATTEMPTS: '0' });
});
afterAll(async () => {
  await h.close();
});

let counter = 0;
/** A call as it stands after Exotel accepted the Connect request. */
function placedCall() {
  counter += 1;
  const sid = `testsid${String(counter).padStart(25, '0')}`;
  const call = storedCall(h.app.store, { orderId: `ORD-STATUS-${counter}`, exotelCallSid: sid });
  return { call, sid, url: h.app.links.statusCallback(call.id, 1) };
}

type Encoding = 'multipart' | 'urlencoded' | 'json';
async function post(url: string, fields: Record<string, string>, encoding: Encoding) {
  let body: string | FormData;
  let headers: Record<string, string> = {};
  if (encoding === 'multipart') {
    body = new FormData();
    for (const [k, v] of Object.entries(fields)) body.append(k, v);
  } else if (encoding === 'urlencoded') {
    body = new URLSearchParams(fields).toString();
    headers = { 'content-type': 'application/x-www-form-urlencoded' };
  } else {
    body = JSON.stringify(fields);
    headers = { 'content-type': 'application/json' };
  }
  const response = await request(url, { method: 'POST', body, headers });
  return { status: response.statusCode, body: (await response.body.json()) as any };
}

const read = async (sid: string) => (await h.get(`/api/calls/${sid}`)).body.call;

describe('POST /webhook/exotel/status', () => {
  it.each<Encoding>(['multipart', 'urlencoded', 'json'])('stores status, duration and recording from a %s body', async (encoding) => {
    const { sid, url } = placedCall();
    const answer = await post(
      url,
      { CallSid: sid, Status: 'completed', RecordingUrl: 'https://recordings.example.test/rec.mp3', DateUpdated: '2026-11-22 10:15:30', ConversationDuration: '42' },
      encoding,
    );
    expect(answer).toEqual({ status: 200, body: { success: true, matched: true } });
    expect(await read(sid)).toMatchObject({
      status: 'completed',
      duration: 42,
      recording_url: 'https://recordings.example.test/rec.mp3',
      // Answered, but Exotel never asked for the greeting: the vendor never heard the order.
      outcome: 'not_reached',
      failure: { code: 'IVR_ERR_FLOW_NOT_RUN', reason: 'never_asked', message: 'Exotel says the call was answered, but it never asked us for the first step' },
      // Exotel's times are IST with no zone: 10:15:30 IST is 04:45:30 UTC.
      ended_at: '2026-11-22T04:45:30.000Z',
    });
  });

  it.each([
    ['a repeated Status whose first value is empty', (sid: string) => `CallSid=${sid}&Status=&Status=busy`],
    ['an empty Status beside CallStatus', (sid: string) => `CallSid=${sid}&Status=&CallStatus=busy`],
    ['an empty CallSid before the real one', (sid: string) => `CallSid=&CallSid=${sid}&Status=busy`],
  ])('reads the status from %s, in a form body or one sent as text/plain', async (_name, body) => {
    for (const type of ['application/x-www-form-urlencoded', 'text/plain']) {
      const { sid, url } = placedCall();
      const response = await request(url, { method: 'POST', body: body(sid), headers: { 'content-type': type } });
      expect([response.statusCode, await response.body.json()]).toEqual([200, { success: true, matched: true }]);
      expect(await read(sid), type).toMatchObject({ status: 'busy', outcome: 'not_reached' });
      // The ops timeline reads it the same way.
      const page = (await h.app.inject({ method: 'GET', url: `/ops/calls/${sid}` })).body;
      expect(page).toContain('<td>Exotel: status busy (dial 1)</td>');
    }
  });

  it('a body of thousands of one repeated key (56 KB, under the body limit) keeps the first nine values and counts the rest', async () => {
    const { call, sid, url } = placedCall();
    const body = `CallSid=${sid}&Status=&Status=busy&${'Junk=x&'.repeat(8_000)}`;
    const response = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect([response.statusCode, await response.body.json()]).toEqual([200, { success: true, matched: true }]);
    expect(await read(sid)).toMatchObject({ status: 'busy' });
    const stored = h.app.store.events(call.id).find((e) => e.kind === 'status_callback')!.params;
    expect(stored).toEqual({
      call: call.id, attempt: '1', CallSid: sid, Status: '', 'Status[1]': 'busy',
      Junk: 'x', ...Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`Junk[${i + 1}]`, 'x'])), repeats_dropped: '7991',
    });
  });

  it('reads the duration from a repeated field whose first value is empty, a leg\'s too', async () => {
    for (const body of ['ConversationDuration=&ConversationDuration=12', 'ConversationDuration=&Duration=12', 'Legs[0][OnCallDuration]=&Legs[0][OnCallDuration]=12']) {
      const { sid, url } = placedCall();
      const response = await request(url, { method: 'POST', body: `CallSid=${sid}&Status=busy&${body}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(response.statusCode).toBe(200);
      await response.body.dump();
      expect(await read(sid), body).toMatchObject({ status: 'busy', duration: 12 });
    }
    // Another leg's length (an agent's, say) is not the call's.
    const { sid, url } = placedCall();
    const response = await request(url, { method: 'POST', body: `CallSid=${sid}&Status=busy&Legs[1][OnCallDuration]=30`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(response.statusCode).toBe(200);
    await response.body.dump();
    expect(await read(sid)).toMatchObject({ status: 'busy', duration: null });
  });

  it('a form or JSON body sent with another content type is still read, not answered matched and dropped', async () => {
    for (const [type, body] of [
      ['text/plain', (sid: string) => `CallSid=${sid}&Status=busy&DateUpdated=2026-11-22%2010%3A00%3A00`],
      ['application/octet-stream', (sid: string) => JSON.stringify({ CallSid: sid, Status: 'busy', DateUpdated: '2026-11-22 10:00:00' })],
    ] as const) {
      const { sid, url } = placedCall();
      const response = await request(url, { method: 'POST', body: body(sid), headers: { 'content-type': type } });
      expect([response.statusCode, await response.body.json()]).toEqual([200, { success: true, matched: true }]);
      expect(await read(sid)).toMatchObject({ status: 'busy', outcome: 'not_reached', ended_at: '2026-11-22T04:30:00.000Z' });
    }
  });

  it("a JSON callback's Legs array gives the duration when ConversationDuration is missing", async () => {
    const { sid, url } = placedCall();
    const response = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ CallSid: sid, Status: 'completed', EventType: 'terminal', Legs: [{ Status: 'completed', OnCallDuration: 23, AnsweredBy: 'Human' }] }),
    });
    expect(response.statusCode).toBe(200);
    await response.body.dump();
    expect(await read(sid)).toMatchObject({ status: 'completed', duration: 23 });
  });

  it('a repeated delivery changes nothing; a later one without RecordingUrl never blanks the stored one', async () => {
    const { sid, url } = placedCall();
    const fields = { CallSid: sid, Status: 'completed', RecordingUrl: 'https://recordings.example.test/a.mp3', DateUpdated: '2026-11-22 10:00:00', ConversationDuration: '30' };
    await post(url, fields, 'multipart');
    const first = await read(sid);
    await post(url, fields, 'multipart');
    await post(url, { CallSid: sid, Status: 'completed', RecordingUrl: '', DateUpdated: '2026-11-22 10:05:00' }, 'urlencoded');
    await post(url, { CallSid: sid, Status: 'completed', RecordingUrl: 'None', DateUpdated: 'null' }, 'json');
    const after = await read(sid);
    expect({ ...after, updated_at: first.updated_at }).toEqual(first);
  });

  it('a status Exotel never sends, a recording that is not a web URL, or an impossible duration is stored, not applied', async () => {
    const { call, sid, url } = placedCall();
    const hostile = { CallSid: sid, Status: 'exploded', RecordingUrl: 'javascript:alert(1)', ConversationDuration: '99999999999999999999' };
    expect(await post(url, hostile, 'urlencoded')).toEqual({ status: 200, body: { success: true, matched: true } });
    expect(await read(sid)).toMatchObject({ status: 'in-progress', outcome: 'pending', duration: null, recording_url: null });
    expect(h.app.store.events(call.id).at(-1)).toMatchObject({ kind: 'status_callback', params: hostile });
    // The documented spellings still count: a British "Cancelled" ends the call as canceled.
    await post(url, { CallSid: sid, Status: 'Cancelled', RecordingUrl: 'https://recordings.example.test/b.mp3', ConversationDuration: '12' }, 'urlencoded');
    expect(await read(sid)).toMatchObject({ status: 'canceled', outcome: 'not_reached', duration: 12, recording_url: 'https://recordings.example.test/b.mp3' });
  });

  it('out of order: an answered event after the terminal one does not undo the end of the call', async () => {
    const { sid, url } = placedCall();
    await post(url, { CallSid: sid, Status: 'busy', DateUpdated: '2026-11-22 10:00:00', EventType: 'terminal', 'Legs[0][Status]': 'busy' }, 'multipart');
    await post(url, { CallSid: sid, Status: 'in-progress', EventType: 'answered', DateUpdated: '2026-11-22 09:59:00' }, 'multipart');
    expect(await read(sid)).toMatchObject({ status: 'busy', outcome: 'not_reached', ended_at: '2026-11-22T04:30:00.000Z' });
  });

  it('an answered event first, then the terminal one with the conversation length', async () => {
    const { sid, url } = placedCall();
    await post(url, { CallSid: sid, Status: 'in-progress', EventType: 'answered' }, 'multipart');
    expect(await read(sid)).toMatchObject({ status: 'in-progress', outcome: 'pending', ended_at: null });
    await post(url, { CallSid: sid, Status: 'completed', EventType: 'terminal', ConversationDuration: '17', DateUpdated: '2026-11-22 10:00:00' }, 'multipart');
    expect(await read(sid)).toMatchObject({ status: 'completed', duration: 17, outcome: 'not_reached' });
  });

  it('a call that heard the question and ended without an answer is no_response, once its late keys had their chance', async () => {
    const { call, sid, url } = placedCall();
    const greeting = await h.app.inject({ method: 'GET', url: `/exoml/vendor-greeting?call=${call.id}&CallSid=${sid}` });
    expect(greeting.statusCode).toBe(200);
    await post(url, { CallSid: sid, Status: 'completed', ConversationDuration: '9' }, 'urlencoded');
    expect(await read(sid)).toMatchObject({ status: 'completed', outcome: 'pending' });
    h.app.store.scheduleReconcile(call.id, new Date(0), 0);
    await h.app.scheduler.tick();
    expect(await read(sid)).toMatchObject({ status: 'completed', duration: 9, outcome: 'no_response', failure: null });
  });

  it('keeps an outcome the vendor already gave', async () => {
    const { call, sid, url } = placedCall();
    const accepted = { ...call.state, outcome: 'accepted' as const };
    h.app.store.saveTurn({ callId: call.id, kind: 'exotel_request', route: '/exoml/vendor-action', step: 'menu', digits: '1', params: {} }, accepted, { kind: 'end', outcome: 'accepted', say: ['accepted'] });
    await post(url, { CallSid: sid, Status: 'completed', DateUpdated: '2026-11-22 10:00:00' }, 'multipart');
    expect(await read(sid)).toMatchObject({ status: 'completed', outcome: 'accepted' });
  });

  it('a JSON callback with nested legs and details is stored whole, in the keys a form body has, and its legs are read', async () => {
    const { call, sid, url } = placedCall();
    const response = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        CallSid: sid,
        Status: 'completed',
        EventType: 'terminal',
        StatusCallbackEvents: ['terminal', 'answered'],
        Details: { ConversationDuration: 33, Leg1Status: 'completed' },
        // Legs as an object keyed by position, as some payloads send them.
        Legs: { 0: { Status: 'completed', OnCallDuration: 33, Extra: { Cause: '16' } } },
      }),
    });
    expect([response.statusCode, await response.body.json()]).toEqual([200, { success: true, matched: true }]);
    expect(h.app.store.events(call.id).at(-1)!.params).toEqual({
      call: call.id,
      attempt: '1',
      CallSid: sid,
      Status: 'completed',
      EventType: 'terminal',
      StatusCallbackEvents: 'terminal',
      'StatusCallbackEvents[1]': 'answered',
      'Details[ConversationDuration]': '33',
      'Details[Leg1Status]': 'completed',
      'Legs[0][Status]': 'completed',
      'Legs[0][OnCallDuration]': '33',
      'Legs[0][Extra][Cause]': '16',
    });
    expect(await read(sid)).toMatchObject({ status: 'completed', duration: 33 });
  });

  it('a body we cannot read is stored with its query and the reason, and answered 200: Call Details fills in the status', async () => {
    const unreadable = () => h.db.prepare("SELECT route, params_json FROM call_events WHERE kind = 'exotel_request_unreadable' ORDER BY id").all() as Array<{ route: string; params_json: string }>;
    const before = unreadable().length;
    const { call, url } = placedCall();
    const bodies: Array<[string, string]> = [
      ['multipart/form-data', '--x\r\nContent-Disposition: form-data; name="Status"\r\n\r\ncompleted\r\n--x--\r\n'],
      ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nfile\r\n--x--\r\n'],
    ];
    for (const [type, body] of bodies) {
      const response = await request(url, { method: 'POST', headers: { 'content-type': type }, body });
      expect([response.statusCode, await response.body.json()]).toEqual([200, { success: true, matched: false }]);
    }
    const stored = unreadable().slice(before);
    expect(stored.map((row) => [row.route, JSON.parse(row.params_json)])).toEqual([
      ['/webhook/exotel/status', { call: call.id, attempt: '1', body_unreadable: expect.any(String) }],
      ['/webhook/exotel/status', { call: call.id, attempt: '1', body_unreadable: 'FST_FILES_LIMIT' }],
    ]);
    // On the call the signed URL names, so they show in its timeline.
    expect(h.app.store.events(call.id).filter((e) => e.kind === 'exotel_request_unreadable')).toHaveLength(2);
    // A JSON body that is not JSON is read as text: stored on the call, the status left to Call Details.
    const broken = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"Status": "completed", "__proto__": {"x": 1}}' });
    expect([broken.statusCode, await broken.body.json()]).toEqual([200, { success: true, matched: true }]);
    const events = h.app.store.events(call.id);
    expect(events.at(-1)).toMatchObject({
      kind: 'status_callback',
      params: { call: call.id, attempt: '1', body_unreadable: 'FST_ERR_CTP_INVALID_JSON_BODY', body_text: '{"Status": "completed", "__proto__": {"x": 1}}' },
    });
    expect(await read(call.id)).toMatchObject({ status: 'in-progress', outcome: 'pending' });
  });

  it('a JSON body nested thousands deep, or not an object, is stored as text and answered 200, never a 500', async () => {
    const { call, url } = placedCall();
    const deep = `{"CallSid":"x","Status":"completed","a":${'['.repeat(5_000)}${']'.repeat(5_000)}}`;
    for (const body of [deep, '[{"Status":"completed"}]']) {
      const response = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect([response.statusCode, await response.body.json()]).toEqual([200, { success: true, matched: true }]);
    }
    expect(h.app.store.events(call.id).map((e) => [e.kind, e.params])).toEqual([
      ['status_callback', { call: call.id, attempt: '1', body_unreadable: 'JSON nested too deeply', body_text: deep }],
      ['status_callback', { call: call.id, attempt: '1', body_unreadable: 'not a JSON object', body_text: '[{"Status":"completed"}]' }],
    ]);
    // Nothing read from them: the status is left to Call Details.
    expect(await read(call.id)).toMatchObject({ status: 'in-progress', outcome: 'pending' });
  });

  it('finds the call by CallSid or CustomField when the URL carries no call reference, and stores unknown ones', async () => {
    const bySid = placedCall();
    const bare = `${h.baseUrl}/webhook/exotel/status`;
    expect((await post(bare, { CallSid: bySid.sid, Status: 'no-answer' }, 'multipart')).body).toEqual({ success: true, matched: true });
    expect(await read(bySid.sid)).toMatchObject({ status: 'no-answer', outcome: 'not_reached' });

    const byCustom = placedCall();
    expect((await post(bare, { CallSid: 'None', CustomField: byCustom.call.id, Status: 'failed' }, 'json')).body.matched).toBe(true);
    expect(await read(byCustom.sid)).toMatchObject({ status: 'failed', outcome: 'not_reached' });

    expect((await post(bare, { CallSid: 'unknownsid000000000000000000000', Status: 'completed' }, 'multipart')).body).toEqual({ success: true, matched: false });
    const stored = h.db.prepare("SELECT params_json FROM call_events WHERE call_id IS NULL AND kind = 'status_callback'").all() as Array<{ params_json: string }>;
    expect(stored.map((row) => JSON.parse(row.params_json).CallSid)).toContain('unknownsid000000000000000000000');
  });
});
