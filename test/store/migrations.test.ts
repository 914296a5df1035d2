// Upgrades: a database an earlier release wrote opens under this one, its schema brought up to date, and
// the service goes on with what it held: the live call takes the vendor's keys, the undelivered outcome
// reaches the backend. A database from a newer release is refused, never half-read.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { start } from '../../src/flows/engine.js';
import { vendorOrder } from '../../src/flows/vendor-order.js';
import { openDatabase } from '../../src/store/database.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { startBackend, type Backend } from '../helpers/backend.js';
import { startHarness, type Harness } from '../helpers/harness.js';

const SECRET = 'migration-test-outcome-secret-0123456789';
const AT = '2026-11-30T10:00:00.000Z';
let dir: string;
let h: Harness | undefined;
let backend: Backend | undefined;

afterEach(async () => {
  await h?.close();
  await backend?.close();
  h = backend = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** A database as release `version` left it: a call on the line at its menu, and a settled call whose outcome is still to be sent. */
function writtenBy(version: number): string {
  dir = mkdtempSync(join(tmpdir(), 'exotel-caller-migrate-'));
  const path = join(dir, 'calls.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  for (const migration of MIGRATIONS.slice(0, version)) db.exec(migration);
  db.pragma(`user_version = ${version}`);
  const opening = start(vendorOrder, 'hi-IN');
  // The reply as releases before the language offer stored it: the question one prompt name, not a list.
  const storedReply = { ...opening.reply, question: (opening.reply as { question: string[] }).question[0] };
  const insertCall = db.prepare(`INSERT INTO calls (id, flow, order_id, phone, language, context_json, state_json, transport,
    last_reply, status, outcome, exotel_call_sid, current_attempt, created_at, updated_at, settled_at)
    VALUES (@id, 'vendor_order', @order, '+919000000001', 'hi-IN', @context, @state, 'exoml', @reply, @status, @outcome, @sid, 1, @at, @at, @settled)`);
  const insertAttempt = db.prepare(`INSERT INTO attempts (call_id, number, exotel_call_sid, result, status, requested_at, answered_at)
    VALUES (?, 1, ?, 'placed', ?, ?, ?)`);
  const context = (order: string) => JSON.stringify({ vendor_name: 'Test Vendor', order_id: order, order_amount: 450, items: '' });
  insertCall.run({ id: 'call_upgrade_live', order: 'ORD-UPGRADE-1', context: context('ORD-UPGRADE-1'), state: JSON.stringify(opening.state), reply: JSON.stringify(storedReply), status: 'in-progress', outcome: 'pending', sid: 'fakesidupgradelive0001', at: AT, settled: null });
  insertAttempt.run('call_upgrade_live', 'fakesidupgradelive0001', 'in-progress', AT, AT);
  const ended = { ...opening.state, outcome: 'cancelled', turn: 2 };
  insertCall.run({ id: 'call_upgrade_done', order: 'ORD-UPGRADE-2', context: context('ORD-UPGRADE-2'), state: JSON.stringify(ended), reply: null, status: 'completed', outcome: 'cancelled', sid: 'fakesidupgradedone0001', at: AT, settled: AT });
  insertAttempt.run('call_upgrade_done', 'fakesidupgradedone0001', 'completed', AT, AT);
  db.prepare(`INSERT INTO outbox (event_id, call_id, payload_json, created_at, due_at) VALUES (?, ?, ?, ?, ?)`).run(
    'outcome_call_upgrade_done',
    'call_upgrade_done',
    JSON.stringify({ event_id: 'outcome_call_upgrade_done', call_id: 'call_upgrade_done', order_id: 'ORD-UPGRADE-2', outcome: 'cancelled' }),
    AT,
    AT,
  );
  db.close();
  return path;
}

async function until(check: () => boolean) {
  for (let i = 0; i < 250 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  return check();
}

describe('a database from an earlier release', () => {
  it.each(Array.from({ length: MIGRATIONS.length - 1 }, (_, i) => i + 1))('version %i: brought up to date, and its calls and outcomes go on', async (version) => {
    const path = writtenBy(version);
    backend = await startBackend(SECRET);
    h = await startHarness({ DATABASE_PATH: path, OUTCOME_WEBHOOK_URL: backend.url, OUTCOME_WEBHOOK_SECRET: SECRET });
    expect(h.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    const indexes = (h.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string }>).map((r) => r.name);
    expect(indexes).toEqual(expect.arrayContaining(['attempts_unanswered', 'outbox_by_call', 'calls_live_by_phone', 'calls_unverified_by_phone', 'calls_one_live_per_order']));

    // The outcome the old release settled but never sent reaches the backend, signed, once.
    expect(await until(() => backend!.outcomes.has('outcome_call_upgrade_done'))).toBe(true);
    expect(backend.received.filter((r) => r.eventId === 'outcome_call_upgrade_done').map((r) => [r.signatureValid, r.body.outcome])).toEqual([[true, 'cancelled']]);

    // The call on the line: a repeat of its trigger answers it, dialling nothing; the vendor's 1 is taken.
    const again = await h.trigger({ vendor_phone: '9000000001', vendor_name: 'Test Vendor', order_id: 'ORD-UPGRADE-1', order_amount: 450 });
    expect(again.body).toMatchObject({ existing: true, call_id: 'call_upgrade_live', call_sid: 'fakesidupgradelive0001' });
    const pressed = await h.app.inject({ method: 'POST', url: '/exoml/vendor-action?call=call_upgrade_live&turn=1', payload: { Digits: '1' } });
    expect(pressed.statusCode).toBe(200);
    expect(pressed.body).toContain('ऑर्डर स्वीकार हो गया है');
    expect(h.app.store.get('call_upgrade_live')).toMatchObject({ outcome: 'accepted', verifyTries: 0 });
    expect(h.simulator.connectTimes).toEqual([]);
  });

  it('the same database opened twice is left as it is', () => {
    const path = writtenBy(MIGRATIONS.length);
    openDatabase(path).close();
    const db = openDatabase(path);
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(db.prepare('SELECT COUNT(*) AS n FROM calls').get()).toEqual({ n: 2 });
    db.close();
  });

  it('a database from a newer release is refused with a reason, and left untouched', () => {
    const path = writtenBy(MIGRATIONS.length);
    const newer = new Database(path);
    newer.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    newer.close();
    expect(() => openDatabase(path)).toThrow(`database schema version ${MIGRATIONS.length + 1} is newer than this build knows (${MIGRATIONS.length})`);
    const after = new Database(path, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length + 1);
    after.close();
  });
});

describe('two processes opening one database', () => {
  it('one that opens while another is migrating waits for it, then starts on the migrated schema', async () => {
    dir = mkdtempSync(join(tmpdir(), 'exotel-caller-migrate-race-'));
    const path = join(dir, 'calls.db');
    // A database one release behind, whose last migration this process is applying (not committed yet).
    const first = new Database(path);
    first.pragma('journal_mode = WAL');
    for (const migration of MIGRATIONS.slice(0, -1)) first.exec(migration);
    first.pragma(`user_version = ${MIGRATIONS.length - 1}`);
    first.exec('BEGIN IMMEDIATE');
    first.exec(MIGRATIONS.at(-1)!);
    first.pragma(`user_version = ${MIGRATIONS.length}`);
    // The second process (as the CLI opens the file) says when it is about to open, then opens.
    const script = join(dir, 'open.mts');
    writeFileSync(script, `import { openDatabase } from ${JSON.stringify(join(process.cwd(), 'src/store/database.ts'))};
console.log('opening');
try { const db = openDatabase(${JSON.stringify(path)}); console.log('opened at', db.pragma('user_version', { simple: true })); } catch (e) { console.log('failed:', e.message); process.exit(1); }
`);
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 400 && !out.includes('opening'); i++) await new Promise((resolve) => setTimeout(resolve, 25));
    // Long enough for it to have read the old version and to wait on our lock.
    await new Promise((resolve) => setTimeout(resolve, 500));
    first.exec('COMMIT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    first.close();
    expect({ code, out: out.trim() }).toEqual({ code: 0, out: `opening\nopened at ${MIGRATIONS.length}` });
  }, 20_000);
});
