// Opens the SQLite file the service keeps everything in, and brings its schema up to date.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;

/**
 * `migrate: false` (the ops CLI): the schema is taken as it is, and must be this build's; bringing it up to
 * date is the service's job, at its start, not a reader's while an older service still runs on it.
 */
export function openDatabase(path: string, options: { migrate?: boolean } = {}): Db {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  // WAL: readers never block the writer. FULL: a commit is on disk before we answer Exotel or the backend.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  if (options.migrate === false) {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version !== MIGRATIONS.length) {
      db.close();
      throw new Error(`its schema is version ${version}, this build's is ${MIGRATIONS.length}: run the CLI of the build the service runs (a newer service brings the schema up to date when it starts)`);
    }
    return db;
  }
  migrate(db);
  return db;
}

export function migrate(db: Db): void {
  const newer = (version: number) => {
    if (version > MIGRATIONS.length) throw new Error(`database schema version ${version} is newer than this build knows (${MIGRATIONS.length})`);
  };
  newer(db.pragma('user_version', { simple: true }) as number);
  // One migration per IMMEDIATE transaction, the version read again inside it: a second process opening the
  // file meanwhile (the CLI while the service restarts on a new build) waits for the first one's lock, then
  // finds that migration applied, instead of applying it twice and failing to start.
  const next = db.transaction((): boolean => {
    const version = db.pragma('user_version', { simple: true }) as number;
    newer(version);
    if (version === MIGRATIONS.length) return false;
    db.exec(MIGRATIONS[version]!);
    db.pragma(`user_version = ${version + 1}`);
    return true;
  });
  if ((db.pragma('user_version', { simple: true }) as number) < MIGRATIONS.length) while (next.immediate());
}
