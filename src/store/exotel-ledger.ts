// Every request we make to Exotel's API, kept in SQLite so the rolling per-minute limit (reference §1.8:
// 200 a minute, 429 past it) holds across restarts, and the pause a 429 asked for is remembered too.
import type { Db } from './database.js';
import { GroupCommit } from './group-commit.js';

export type ExotelRequestKind = 'connect' | 'details' | 'list';

const WINDOW_MS = 60_000;

export class ExotelLedger {
  private readonly q;

  constructor(
    db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.q = GroupCommit.of(db).guarded({
      record: db.prepare('INSERT INTO exotel_requests (at, kind) VALUES (?, ?)'),
      // The k-th most recent request inside the window (OFFSET k-1), to know when a slot frees up.
      // A request exactly 60 s old still counts: no closed 60 s window may hold more than the limit.
      recent: db.prepare('SELECT at FROM exotel_requests WHERE at >= ? ORDER BY at DESC LIMIT 1 OFFSET ?'),
      count: db.prepare('SELECT COUNT(*) AS n FROM exotel_requests WHERE at >= ?'),
      prune: db.prepare('DELETE FROM exotel_requests WHERE at <= ?'),
      getState: db.prepare('SELECT value FROM service_state WHERE key = ?'),
      setState: db.prepare('INSERT OR REPLACE INTO service_state (key, value) VALUES (?, ?)'),
      all: db.prepare('SELECT at FROM exotel_requests ORDER BY at'),
    });
  }

  /**
   * Undefined if a request may go out at `now` under `perMinute` a rolling minute (and no 429 pause holds);
   * else the instant it may: when the request that fills the window leaves it, or the pause ends.
   */
  nextSlot(perMinute: number, now: Date): Date | undefined {
    const paused = this.pausedUntil(now);
    const since = new Date(now.getTime() - WINDOW_MS).toISOString();
    const row = this.q.recent.get(since, perMinute - 1) as { at: string } | undefined;
    const free = row ? new Date(new Date(row.at).getTime() + WINDOW_MS + 1) : undefined;
    if (paused && (!free || paused > free)) return paused;
    return free;
  }

  /** Records a request going out now. Call it only with a slot in hand (`nextSlot` ≤ now). */
  record(kind: ExotelRequestKind): void {
    this.q.record.run(this.now().toISOString(), kind);
  }

  inLastMinute(): number {
    return (this.q.count.get(new Date(this.now().getTime() - WINDOW_MS).toISOString()) as { n: number }).n;
  }

  /** After a 429: no request before `until` (Retry-After, or our own backoff). */
  pauseUntil(until: Date): void {
    const current = this.pausedUntil(this.now());
    if (!current || until > current) this.q.setState.run('exotel_paused_until', until.toISOString());
  }

  pausedUntil(now: Date): Date | undefined {
    const row = this.q.getState.get('exotel_paused_until') as { value: string } | undefined;
    const until = row ? new Date(row.value) : undefined;
    return until && until > now ? until : undefined;
  }

  /** Forgets requests older than a day (the limit looks back one minute). */
  prune(): void {
    this.q.prune.run(new Date(this.now().getTime() - 86_400_000).toISOString());
  }

  /** Every request time, oldest first (for tests and the benchmark to check the limit). */
  times(): string[] {
    return (this.q.all.all() as Array<{ at: string }>).map((r) => r.at);
  }
}
