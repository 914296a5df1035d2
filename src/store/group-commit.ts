// Group commit: the writes of the Exotel requests handled in one turn of the event loop share one
// transaction, so one fsync makes them all durable, and each request is answered only after that commit.
// The durability is the same as a commit per request (nothing is answered before it is on disk, FULL
// sync); the fsyncs are not one per request. Anything outside a group (the scheduler, a Voicebot turn, the
// trigger's inline dial, a read for our API) first commits an open group, so it never reads or acts on what
// is not on disk; if that commit fails, it fails too.
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.js';

const groups = new WeakMap<Db, GroupCommit>();

/** The open group could not be committed: nothing of it was stored. */
export class GroupCommitError extends Error {
  readonly code = 'STORE_ERR_GROUP_COMMIT';
}

export class GroupCommit {
  /** The one group of a database, shared by every store on it. */
  static of(db: Db): GroupCommit {
    let group = groups.get(db);
    if (!group) groups.set(db, (group = new GroupCommit(db)));
    return group;
  }

  private open = false;
  /** > 0 while grouped work runs: its transactions nest in the group instead of committing it. */
  private inside = 0;
  private waiters: Array<(committed: boolean) => void> = [];

  /** One reusable better-sqlite3 transaction (a savepoint when nested): making one per call costs more. */
  private readonly atomic: (work: () => unknown) => unknown;

  private constructor(private readonly db: Db) {
    this.atomic = db.transaction((work: () => unknown) => work());
  }

  /** Runs `work` all or nothing: its own transaction, or a savepoint inside the open one. */
  atomically<T>(work: () => T): T {
    return this.atomic(work) as T;
  }

  /** `work` all or nothing, outside the group: an open group is committed first, so this commit is on disk on its own when it returns. */
  transaction<T>(work: () => T): T {
    if (this.mustFlushFirst) this.flush();
    return this.atomically(work);
  }

  /**
   * Makes these statements safe outside a group: a read or write that is not part of the open group commits
   * it first, so nothing outside reads (and answers with) or acts on what is not on disk yet.
   */
  guarded<T extends object>(statements: T): T {
    for (const statement of Object.values(statements) as Statement[]) {
      for (const method of ['run', 'get', 'all'] as const) {
        const original = (statement[method] as (...args: unknown[]) => unknown).bind(statement);
        (statement as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
          if (this.mustFlushFirst) this.flush();
          return original(...args);
        };
      }
    }
    return statements;
  }

  /**
   * Runs `work` in the open group (opening one), all or nothing: its own savepoint rolls back alone if it
   * throws. Resolves with its result once the group is on disk; rejects if the commit fails.
   */
  run<T>(work: () => T): Promise<T> {
    // Grouped work is one request's: it never starts another (its promise would outlive its savepoint).
    if (this.inside > 0) throw new Error('grouped work cannot nest');
    this.abandonIfEnded();
    if (!this.open) {
      this.db.exec('BEGIN IMMEDIATE');
      this.open = true;
      // After every request read in this turn of the loop has run: then one commit for all of them. A
      // failure there reaches every waiter, never the event loop.
      setImmediate(() => {
        try {
          this.flush();
        } catch {
          // told to the waiters (and emitted as a warning) by flush
        }
      });
    }
    this.inside++;
    let result: T;
    try {
      result = this.atomically(work);
    } catch (error) {
      // An error that made SQLite end the whole transaction (disk full, I/O) ends the group with it.
      this.abandonIfEnded();
      throw error;
    } finally {
      this.inside--;
    }
    return this.committed().then((ok) => {
      if (!ok) throw new GroupCommitError('the group commit failed: nothing of this request was stored');
      return result;
    });
  }

  /** A group is open: writes made now reach the disk at its commit. */
  get pending(): boolean {
    return this.open;
  }

  /** True when a transaction must commit the open group before it starts (it is not part of the group). */
  get mustFlushFirst(): boolean {
    return this.open && this.inside === 0;
  }

  /** Resolves once everything written so far is on disk (at once when no group is open); false if that failed. */
  committed(): Promise<boolean> {
    if (!this.open) return Promise.resolve(true);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Commits the open group now; throws (after telling its waiters) if it could not be committed. */
  flush(): void {
    if (!this.open) return;
    if (this.inside > 0) throw new Error('the group cannot be committed from inside grouped work');
    this.open = false;
    const waiters = this.waiters;
    this.waiters = [];
    let failure: Error | undefined;
    try {
      this.db.exec('COMMIT');
    } catch (error) {
      failure = new GroupCommitError(`the group commit failed: ${(error as Error).message}`);
      try {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
      } catch {
        // the transaction is gone either way
      }
    } finally {
      for (const resolve of waiters) resolve(failure === undefined);
    }
    if (failure) {
      process.emitWarning(failure.message);
      throw failure;
    }
  }

  /** SQLite ended the group's transaction itself (after a fatal error): nothing of the group was stored. */
  private abandonIfEnded(): void {
    if (!this.open || this.db.inTransaction) return;
    this.open = false;
    const waiters = this.waiters;
    this.waiters = [];
    process.emitWarning('the group commit was rolled back by SQLite: nothing of it was stored');
    for (const resolve of waiters) resolve(false);
  }
}
