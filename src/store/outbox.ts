// The outcomes waiting for the backend: rows with a due time, delivered at least once, never dropped
// silently (a delivery that keeps failing past its age limit is marked dead, and shows as such).
import type { Db } from './database.js';
import { GroupCommit } from './group-commit.js';

export interface OutboxRecord {
  eventId: string;
  callId: string;
  payload: Record<string, unknown>;
  createdAt: string;
  /** When ops last sent it again (outbox retry), if ever: its age limit counts from then. */
  retriedAt: string | null;
  dueAt: string | null;
  tries: number;
  lastError: string | null;
  deliveredAt: string | null;
  deadAt: string | null;
}

type Row = Record<string, unknown>;

/**
 * What a backend answers when it will not take an outcome as it is (not an outage, a wrong URL or a wrong
 * secret): still retried, since a backend can change its mind, but it holds back no later outcome of its
 * order, which would otherwise wait for OUTCOME_MAX_AGE_HOURS behind it.
 */
export const REFUSED_STATUSES = [400, 409, 410, 422];
/** How a failed delivery's answer is stored (jobs/outcome-delivery.ts), and so how the hold below reads it. */
export const httpFailure = (status: number) => `HTTP ${status}`;
const REFUSED_SQL = REFUSED_STATUSES.map((status) => `'${httpFailure(status)}'`).join(', ');

/** From and where of the outcomes (`l`) of the same order and flow as `event`, later, and delivered. */
const laterDelivered = (event: string) => `FROM outbox o JOIN calls c ON c.id = o.call_id
  JOIN calls lc ON lc.order_id = c.order_id AND lc.flow = c.flow JOIN outbox l ON l.call_id = lc.id
  WHERE o.event_id = ${event} AND l.rowid > o.rowid AND l.delivered_at IS NOT NULL`;

export class OutboxStore {
  private readonly q;
  private readonly group: GroupCommit;

  constructor(
    db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.group = GroupCommit.of(db);
    this.q = this.group.guarded({
      insert: db.prepare(`INSERT OR IGNORE INTO outbox (event_id, call_id, payload_json, created_at, due_at)
        VALUES (@eventId, @callId, @payload, @now, @dueAt)`),
      // One order's outcomes (a recall makes a second) reach the backend in the order they settled: an outcome
      // waits while an earlier one of the same order and flow is still to be delivered (not once it is dead),
      // so a late retry of the first call's outcome never lands after the recall's. One the backend refused
      // holds nothing back, and waits itself while a later one is still to be delivered (whose answer may
      // have been lost): it follows only if that one dies. The scheduler sends one outcome of an order at a time.
      due: db.prepare(`SELECT o.* FROM outbox o JOIN calls c ON c.id = o.call_id
        WHERE o.due_at IS NOT NULL AND o.due_at <= ?
          AND NOT EXISTS (SELECT 1 FROM outbox p JOIN calls pc ON pc.id = p.call_id
            WHERE p.due_at IS NOT NULL AND p.rowid < o.rowid AND pc.order_id = c.order_id AND pc.flow = c.flow
              AND COALESCE(p.last_error, '') NOT IN (${REFUSED_SQL}))
          AND NOT (COALESCE(o.last_error, '') IN (${REFUSED_SQL}) AND EXISTS (SELECT 1 FROM outbox l JOIN calls lc ON lc.id = l.call_id
            WHERE l.due_at IS NOT NULL AND l.rowid > o.rowid AND lc.order_id = c.order_id AND lc.flow = c.flow))
        ORDER BY o.due_at, o.rowid LIMIT ?`),
      delivered: db.prepare('UPDATE outbox SET due_at = NULL, delivered_at = @now, tries = tries + 1, last_error = NULL WHERE event_id = @id'),
      // Once the backend has a later outcome of the order, an earlier one it has not taken must never follow.
      // One that died before (delivery gave up) is superseded too: it is moot, not lost (metrics.ts counts the lost).
      supersede: db.prepare(`UPDATE outbox SET due_at = NULL, dead_at = COALESCE(dead_at, @now),
          last_error = 'superseded by ' || @id || CASE WHEN dead_at IS NOT NULL AND last_error IS NOT NULL THEN ' (it had died: ' || last_error || ')' ELSE '' END
        WHERE delivered_at IS NULL AND (dead_at IS NULL OR COALESCE(last_error, '') NOT LIKE 'superseded by %')
          AND rowid < (SELECT rowid FROM outbox WHERE event_id = @id)
          AND call_id IN (SELECT e.id FROM calls e JOIN calls d ON d.order_id = e.order_id AND d.flow = e.flow
            JOIN outbox l ON l.call_id = d.id WHERE l.event_id = @id)`),
      failed: db.prepare('UPDATE outbox SET due_at = @dueAt, tries = tries + 1, last_error = @error WHERE event_id = @id'),
      dead: db.prepare('UPDATE outbox SET due_at = NULL, dead_at = @now, tries = tries + 1, last_error = @error WHERE event_id = @id'),
      // Sent now, as asked: a refusal recorded before no longer makes it wait for a later outcome of its order.
      // Unless forced, not once a later outcome of its order is delivered, checked in the same statement, so
      // the server delivering that one meanwhile (another process) cannot slip between a check and this.
      retry: db.prepare(`UPDATE outbox SET due_at = @now, dead_at = NULL, last_error = NULL, retried_at = @now
        WHERE event_id = @id AND delivered_at IS NULL
          AND (@force = 1 OR NOT EXISTS (SELECT 1 ${laterDelivered('@id')}))`),
      // A later outcome of the same order and flow that the backend already has.
      laterDelivered: db.prepare(`SELECT l.event_id ${laterDelivered('?')} LIMIT 1`),
      byCall: db.prepare('SELECT * FROM outbox WHERE call_id = ? ORDER BY created_at'),
      byId: db.prepare('SELECT * FROM outbox WHERE event_id = ?'),
      backlog: db.prepare('SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE due_at IS NOT NULL'),
      // Superseded rows are dead by design (a later outcome of the order was delivered): their last_error says so.
      deadCount: db.prepare(`SELECT COUNT(*) FROM outbox WHERE dead_at IS NOT NULL AND delivered_at IS NULL
        AND (last_error IS NULL OR last_error NOT LIKE 'superseded by %')`).pluck(),
      patch: db.prepare(`UPDATE outbox SET payload_json = json_patch(payload_json, @patch) WHERE event_id = @id AND delivered_at IS NULL`),
      list: db.prepare('SELECT * FROM outbox ORDER BY created_at DESC, rowid DESC LIMIT ?'),
    });
  }

  /** Written inside the transaction that settles the call; `dueAt` null when there is nowhere to deliver. */
  add(eventId: string, callId: string, payload: Record<string, unknown>, dueAt: Date | null): void {
    this.q.insert.run({ eventId, callId, payload: JSON.stringify(payload), now: this.now().toISOString(), dueAt: dueAt?.toISOString() ?? null });
  }

  due(limit: number): OutboxRecord[] {
    return (this.q.due.all(this.now().toISOString(), limit) as Row[]).map(toRecord);
  }

  /** The backend took it; an earlier outcome of its order it never took is superseded (dead, never sent after). */
  delivered(eventId: string): void {
    const now = this.now().toISOString();
    this.group.transaction(() => {
      this.q.delivered.run({ id: eventId, now });
      this.q.supersede.run({ id: eventId, now });
    });
  }

  failed(eventId: string, error: string, dueAt: Date): void {
    this.q.failed.run({ id: eventId, error, dueAt: dueAt.toISOString() });
  }

  dead(eventId: string, error: string): void {
    this.q.dead.run({ id: eventId, error, now: this.now().toISOString() });
  }

  /** Adds what arrived after settling (the agent leg's end) to an outcome not yet delivered. */
  patchUndelivered(eventId: string, patch: Record<string, unknown>): void {
    this.q.patch.run({ id: eventId, patch: JSON.stringify(patch) });
  }

  /**
   * Deliver again now (ops, after fixing the backend). Refused for an unknown or delivered event, and, unless
   * forced, once a later outcome of the same order reached the backend: sent now, this one would land last.
   */
  retry(eventId: string, force = false): { due: true } | { due: false; reason: 'not_found' } | { due: false; reason: 'superseded'; by: string } {
    if (this.q.retry.run({ id: eventId, now: this.now().toISOString(), force: force ? 1 : 0 }).changes === 1) return { due: true };
    const later = this.q.laterDelivered.get(eventId) as { event_id: string } | undefined;
    return later && !force ? { due: false, reason: 'superseded', by: later.event_id } : { due: false, reason: 'not_found' };
  }

  forCall(callId: string): OutboxRecord[] {
    return (this.q.byCall.all(callId) as Row[]).map(toRecord);
  }

  get(eventId: string): OutboxRecord | undefined {
    const row = this.q.byId.get(eventId) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  backlog(): { count: number; oldest: string | null } {
    const row = this.q.backlog.get() as { n: number; oldest: string | null };
    return { count: row.n, oldest: row.oldest };
  }

  /** Outcomes the backend never got because delivery gave up (not those a later outcome superseded). */
  deadCount(): number {
    return this.q.deadCount.get() as number;
  }

  list(limit: number): OutboxRecord[] {
    return (this.q.list.all(limit) as Row[]).map(toRecord);
  }
}

function toRecord(row: Row): OutboxRecord {
  return {
    eventId: row.event_id as string,
    callId: row.call_id as string,
    payload: JSON.parse(row.payload_json as string) as Record<string, unknown>,
    createdAt: row.created_at as string,
    retriedAt: (row.retried_at as string | null) ?? null,
    dueAt: row.due_at as string | null,
    tries: row.tries as number,
    lastError: row.last_error as string | null,
    deliveredAt: row.delivered_at as string | null,
    deadAt: row.dead_at as string | null,
  };
}
