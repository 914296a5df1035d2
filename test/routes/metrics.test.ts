// /metrics scrapes cleanly in Prometheus text format, behind the API token, and counts what ops watch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedCall } from '../helpers/calls.js';
import { order, startHarness, type Harness } from '../helpers/harness.js';

const TOKEN = 'metrics-test-api-token-0123456789abcdef';
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ API_TOKEN: TOKEN });
});
afterAll(async () => h.close());

function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (wanted.every((w) => line.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('GET /metrics', () => {
  it('needs the token', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
  });

  it('counts calls by flow and outcome, Connect results, Exotel latency, route latency, the queue and the outbox', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const placed = await h.trigger(order({ order_id: 'MET-1' }), auth);
    await h.settled(placed.body.call_id, auth);
    const scrape = await h.app.inject({ method: 'GET', url: '/metrics', headers: auth });
    expect(scrape.statusCode).toBe(200);
    expect(scrape.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = scrape.body;
    // Every line is a comment or "name{labels} value".
    for (const line of text.trim().split('\n').filter(Boolean)) expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? -?[\d.e+-]+|\w+(\{[^}]*\})? (NaN|[+-]Inf))$/);
    expect(sample(text, 'exotel_caller_calls_total', { flow: 'vendor_order', outcome: 'accepted' })).toBe(1);
    expect(sample(text, 'exotel_caller_connect_requests_total', { result: 'placed' })).toBe(1);
    expect(sample(text, 'exotel_caller_exotel_api_seconds_count', { operation: 'connect', result: 'ok' })).toBe(1);
    expect(sample(text, 'exotel_caller_response_seconds_count', { route: '/exoml/:slug', method: 'GET' })).toBe(1);
    expect(sample(text, 'exotel_caller_response_seconds_count', { route: '/webhook/exotel/status', method: 'POST', status: '200' })).toBe(1);
    expect(sample(text, 'exotel_caller_queue_depth')).toBe(0);
    expect(sample(text, 'exotel_caller_outbox_backlog')).toBe(0);
    expect(sample(text, 'exotel_caller_outbox_oldest_age_seconds')).toBe(0);
    expect(sample(text, 'exotel_caller_outbox_dead')).toBe(0);
    expect(text).not.toContain(TOKEN);
  });

  it('an outcome whose delivery gave up leaves the backlog and stays counted as dead until it is sent again; a superseded one is not counted', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const scrape = async () => (await h.app.inject({ method: 'GET', url: '/metrics', headers: auth })).body;
    const lost = storedCall(h.app.store, { orderId: 'MET-DEAD' }).id;
    const recalled = storedCall(h.app.store, { orderId: 'MET-SUPERSEDED' }).id;
    // Settled (as far as a second call of the order needs), then the order is called again.
    h.db.prepare("UPDATE calls SET settled_at = ?, outcome = 'accepted' WHERE id = ?").run(new Date().toISOString(), recalled);
    const later = storedCall(h.app.store, { orderId: 'MET-SUPERSEDED' }).id;
    const soon = new Date(Date.now() + 3_600_000);
    for (const id of [lost, recalled, later]) h.app.outbox.add(`outcome_${id}`, id, { event_id: `outcome_${id}` }, soon);
    expect([sample(await scrape(), 'exotel_caller_outbox_backlog'), sample(await scrape(), 'exotel_caller_outbox_dead')]).toEqual([3, 0]);
    h.app.outbox.dead(`outcome_${lost}`, 'HTTP 500 for 24 h');
    // The recall's outcome reached the backend: the first one of that order is superseded, never sent.
    h.app.outbox.delivered(`outcome_${later}`);
    expect(h.app.outbox.get(`outcome_${recalled}`)).toMatchObject({ deadAt: expect.any(String), lastError: `superseded by outcome_${later}` });
    const after = await scrape();
    expect([sample(after, 'exotel_caller_outbox_backlog'), sample(after, 'exotel_caller_outbox_dead')]).toEqual([0, 1]);
    expect(h.app.outbox.retry(`outcome_${lost}`)).toEqual({ due: true });
    expect([sample(await scrape(), 'exotel_caller_outbox_backlog'), sample(await scrape(), 'exotel_caller_outbox_dead')]).toEqual([1, 0]);
    // It dies again; then its order is called again and that outcome reaches the backend: the dead one is
    // moot now (superseded, never to be sent after it), no longer counted as lost.
    h.app.outbox.dead(`outcome_${lost}`, 'HTTP 503 for 24 h');
    expect(sample(await scrape(), 'exotel_caller_outbox_dead')).toBe(1);
    h.db.prepare("UPDATE calls SET settled_at = ?, outcome = 'accepted' WHERE id = ?").run(new Date().toISOString(), lost);
    const recall = storedCall(h.app.store, { orderId: 'MET-DEAD' }).id;
    h.app.outbox.add(`outcome_${recall}`, recall, { event_id: `outcome_${recall}` }, soon);
    h.app.outbox.delivered(`outcome_${recall}`);
    expect(h.app.outbox.get(`outcome_${lost}`)).toMatchObject({ lastError: `superseded by outcome_${recall} (it had died: HTTP 503 for 24 h)` });
    expect([sample(await scrape(), 'exotel_caller_outbox_backlog'), sample(await scrape(), 'exotel_caller_outbox_dead')]).toEqual([0, 0]);
  });
});
