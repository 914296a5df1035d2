// Group commit: the Exotel requests of one moment share a commit (one fsync), each is answered only once
// that commit is on disk, and nothing outside the group ever acts on a write that is not yet on disk.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/store/database.js';
import { CallStore } from '../../src/store/calls.js';
import { storedCall } from '../helpers/calls.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let dir: string;
let db: Db;
let store: CallStore;
/** A second connection, as a restarted process would read the file: it sees only what is committed. */
let reader: Database.Database;
const onDisk = () => (reader.prepare("SELECT COUNT(*) AS n FROM call_events WHERE kind LIKE 'test_%'").get() as { n: number }).n;
const event = (kind: string) => ({ callId: null, kind, route: '/test', params: {} });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'exotel-caller-group-'));
  db = openDatabase(join(dir, 'calls.db'));
  store = new CallStore(db);
  reader = new Database(join(dir, 'calls.db'), { readonly: true });
});
afterEach(() => {
  reader.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('group commit', () => {
  it('the writes of one moment are committed together, after the moment, and each caller learns it', async () => {
    const answered: number[] = [];
    const pending = [1, 2, 3].map((n) => store.grouped(() => {
      store.recordEvent(event(`test_${n}`));
      return n;
    }).then((n) => answered.push(n)));
    // Not on disk yet, and nobody answered yet.
    expect(onDisk()).toBe(0);
    expect(answered).toEqual([]);
    await Promise.all(pending);
    expect(onDisk()).toBe(3);
    expect(answered).toEqual([1, 2, 3]);
  });

  it('a write outside the group commits the group first: nothing acts on an uncommitted write', async () => {
    const grouped = store.grouped(() => store.recordEvent(event('test_grouped')));
    // The scheduler, a Voicebot turn, the trigger's inline dial: a transaction of their own...
    store.transaction(() => store.recordEvent(event('test_outside')));
    expect(onDisk()).toBe(2);
    // ...and a single statement alike.
    const again = store.grouped(() => store.recordEvent(event('test_grouped_2')));
    store.recordEvent(event('test_single'));
    expect(onDisk()).toBe(4);
    await Promise.all([grouped, again]);
  });

  it('work that throws undoes only its own writes; the others of the group are kept', async () => {
    const kept = store.grouped(() => store.recordEvent(event('test_kept')));
    expect(() => store.grouped(() => {
      store.recordEvent(event('test_undone'));
      throw new Error('boom');
    })).toThrow('boom');
    await kept;
    expect(reader.prepare("SELECT kind FROM call_events WHERE kind LIKE 'test_%'").all()).toEqual([{ kind: 'test_kept' }]);
  });

  it('a read outside the group commits it first: our API never answers with what is not on disk', async () => {
    const grouped = store.grouped(() => store.recordEvent(event('test_settled')));
    expect(store.events('nobody')).toEqual([]);
    expect(onDisk()).toBe(1);
    await grouped;
  });

  it('after a failed commit, a read or write outside the group fails too instead of acting on lost data', async () => {
    const lost = store.grouped(() => store.recordEvent(event('test_lost')));
    db.exec('ROLLBACK');
    const warned = new Promise((resolve) => process.once('warning', resolve));
    expect(() => store.events('nobody')).toThrow('the group commit failed');
    await expect(lost).rejects.toThrow('the group commit failed');
    await warned;
    // The next request starts a group of its own, and is stored.
    await store.grouped(() => store.recordEvent(event('test_next')));
    expect(onDisk()).toBe(1);
  });

  it('grouped work never nests, and cannot commit the group from inside', async () => {
    const outer = store.grouped(() => {
      expect(() => store.grouped(() => 1)).toThrow('grouped work cannot nest');
      expect(() => store.group.flush()).toThrow('cannot be committed from inside grouped work');
      store.recordEvent(event('test_outer'));
    });
    await outer;
    expect(onDisk()).toBe(1);
  });

  it('when SQLite itself ends the group\'s transaction, its requests fail and the next ones are stored', async () => {
    const first = store.grouped(() => store.recordEvent(event('test_first')));
    const warned = new Promise((resolve) => process.once('warning', resolve));
    // As after a disk-full or I/O error: the transaction is gone under the work.
    expect(() => store.grouped(() => {
      db.exec('ROLLBACK');
      throw new Error('SQLITE_FULL');
    })).toThrow();
    await expect(first).rejects.toThrow('the group commit failed');
    await warned;
    await store.grouped(() => store.recordEvent(event('test_after')));
    expect(reader.prepare("SELECT kind FROM call_events WHERE kind LIKE 'test_%'").all()).toEqual([{ kind: 'test_after' }]);
  });

  it('a commit that fails is an error for every request of the group, never a silent answer', async () => {
    const a = store.grouped(() => store.recordEvent(event('test_a')));
    const b = store.grouped(() => store.recordEvent(event('test_b')));
    // The disk goes away under the open group (simulated: the transaction is ended behind the group's back).
    db.exec('ROLLBACK');
    const warned = new Promise((resolve) => process.once('warning', resolve));
    await expect(a).rejects.toThrow('the group commit failed');
    await expect(b).rejects.toThrow('the group commit failed');
    await warned;
    expect(onDisk()).toBe(0);
  });
});

describe('group commit under load', () => {
  let h: Harness;
  afterAll(async () => h?.close());

  it('50 concurrent status callbacks: every one stored and answered, with far fewer commits than requests', async () => {
    h = await startHarness();
    const call = storedCall(h.app.store);
    const commits: number[] = [];
    const exec = h.db.exec.bind(h.db);
    h.db.exec = ((sql: string) => {
      if (sql === 'COMMIT') commits.push(1);
      return exec(sql);
    }) as typeof h.db.exec;
    const url = new URL(h.app.links.statusCallback(call.id, 1));
    // All 50 arrive in the same moment (injected, so the network does not spread them out).
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        h.app.inject({
          method: 'POST',
          url: `${url.pathname}${url.search}`,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: `CallSid=groupsid${i}&Status=in-progress`,
        }).then((r) => ({ status: r.statusCode, body: r.json() })),
      ),
    );
    h.db.exec = exec;
    expect(answers.every((a) => a.status === 200 && (a.body as { success: boolean }).success)).toBe(true);
    expect(h.app.store.events(call.id).filter((e) => e.kind === 'status_callback')).toHaveLength(50);
    expect(commits.length).toBeGreaterThan(0);
    expect(commits.length).toBeLessThan(50);
  });
});
