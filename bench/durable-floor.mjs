// The least a step that keeps the design's rules can do, in a bare Fastify app: read one call row, append
// one event, and answer once that is on disk (one commit per turn of the event loop, synchronous = FULL).
// No signature, no flow, no ExoML, no hooks. npm run bench measures it beside the bare route: how far below
// the ceiling "stored before answered" alone puts any greeting on this machine.
import Fastify from 'fastify';
import Database from 'better-sqlite3';

const [port, path] = process.argv.slice(2);
const db = new Database(path);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec(`CREATE TABLE IF NOT EXISTS calls (id TEXT PRIMARY KEY, state_json TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS call_events (id INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT, at TEXT NOT NULL, params_json TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS call_events_by_call ON call_events (call_id, id);
  INSERT OR REPLACE INTO calls VALUES ('call_floor', '{"step":"greeting","turn":1}');`);
const read = db.prepare('SELECT * FROM calls WHERE id = ?').raw(true);
const append = db.prepare('INSERT INTO call_events (call_id, at, params_json) VALUES (?, ?, ?)');
let answers = [];
const commit = () => {
  db.exec('COMMIT');
  const ready = answers;
  answers = [];
  for (const answer of ready) answer();
};
const app = Fastify();
app.get('/', (request, reply) => {
  if (answers.length === 0) {
    db.exec('BEGIN IMMEDIATE');
    setImmediate(commit);
  }
  const row = read.get('call_floor');
  append.run(row[0], new Date().toISOString(), JSON.stringify(request.query));
  answers.push(() => reply.type('application/xml').send('<?xml version="1.0"?><Response><Hangup/></Response>'));
  return reply;
});
await app.listen({ port: Number(port), host: '127.0.0.1' });
console.log('ready');
