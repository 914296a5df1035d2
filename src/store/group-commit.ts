// Group commit: the writes of the Exotel requests handled in one turn of the event loop share one
// transaction, so one fsync makes them all durable, and each request is answered only after that commit.
// The durability is the same as a commit per request (nothing is answered before it is on disk, FULL
// sync); the fsyncs are not one per request. Writes outside a group (the scheduler, a Voicebot turn, the
// trigger's inline dial) first commit an open group, then commit on their own, as before.
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.js';

const groups = new WeakMap<Db, GroupCommit>();

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

  /**
   * Makes these statements' writes safe outside a group: a write that is not part of the open group commits
   * it first, so it never rides (uncommitted) on a group while the code after it acts on the world.
   */
  guardWrites<T extends object>(statements: T): T {
    for (const statement of Object.values(statements) as Statement[]) {
      if (statement.reader) continue;
      const run = statement.run.bind(statement);
      statement.run = ((...args: unknown[]) => {
        if (this.mustFlushFirst) this.flush();
        return run(...(args as []));
      }) as typeof statement.run;
    }
    return statements;
  }

  /**
   * Runs `work` in the open group (opening one), all or nothing: its own savepoint rolls back alone if it
   * throws. Resolves with its result once the group is on disk; rejects if the commit fails.
   */
  run<T>(work: () => T): Promise<T> {
    if (!this.open) {
      this.db.exec('BEGIN IMMEDIATE');
      this.open = true;
      // After every request read in this turn of the loop has run: then one commit for all of them.
      setImmediate(() => this.flush());
    }
    this.inside++;
    let result: T;
    try {
      result = this.atomically(work);
    } finally {
      this.inside--;
    }
    return this.committed().then((ok) => {
      if (!ok) throw new Error('the group commit failed: nothing of this request was stored');
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

  /** Commits the open group now. */
  flush(): void {
    if (!this.open) return;
    this.open = false;
    const waiters = this.waiters;
    this.waiters = [];
    let ok = true;
    try {
      this.db.exec('COMMIT');
    } catch (error) {
      ok = false;
      process.emitWarning(`group commit failed: ${(error as Error).message}`);
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    }
    for (const resolve of waiters) resolve(ok);
  }
}
