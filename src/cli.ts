// The ops CLI: the same answers as /ops, in a terminal. Reads the service's SQLite file (DATABASE_PATH,
// .env) directly; `simulate` and `calls withdraw` go through the running server, `outbox retry` leaves the
// delivery to it. Exit codes: 0 done, 1 not found or failed, 2 usage. `--json` prints machine-readable output.
import 'dotenv/config';
import { existsSync } from 'node:fs';
import { request } from 'undici';
import { callView, deliveryView, eventsView } from './api/call-view.js';
import { ConfigError, loadConfig } from './config.js';
import { firstPresent } from './exotel/inbound.js';
import { FINAL_OUTCOMES } from './flows/types.js';
import { Links, OWN_PARAMS } from './links.js';
import { findCalls } from './ops/find-calls.js';
import { CallStore } from './store/calls.js';
import { openDatabase } from './store/database.js';
import { OutboxStore } from './store/outbox.js';

const USAGE = `usage: exotel-caller <command> [--json]
  calls show <call_sid | call_id | order_id | number>
                                                   a call's timeline (the number whole, or its last digits)
  calls list [--since 1h] [--outcome <outcome>]     calls, newest first
  calls withdraw <call_sid | call_id> [--reason <text>] [--server URL]
                                                   withdraw a call (through the running server): never
                                                   dialled again, it settles as withdrawn
  outbox list                                      outcomes for the backend and their delivery
  outbox retry <event_id> [--force]                make a dead or pending outcome due now: the running server
                                                   delivers it (--force: even after a later outcome of its
                                                   order was delivered)
  simulate --phone <number> [--server URL] [--live] place a call through a running server and wait for it
                                                   (--live: even when that server rings real phones)
  sign-url <path?query>                            a signed URL for an ExoML step or the status webhook (needs WEBHOOK_SECRET)`;

const LIST_LIMIT = 5_000;
const OUTBOX_LIMIT = 5_000;
const OUTCOMES: readonly string[] = ['pending', ...FINAL_OUTCOMES];
// How long `simulate` waits for a call past the time it is due to be dialled (redials included), and how far
// off a queued call may be before it stops waiting and says when the call will go.
const SIMULATE_WAIT_MS = 30_000;
const SIMULATE_QUEUE_LIMIT_MS = 5 * 60_000;
// Twice a second: a small share of the API's rate limit, which the backend's own requests share.
const SIMULATE_POLL_MS = 500;

type Out = { json: boolean; print: (text: string, data: unknown) => void };

// Each command, the words it takes after its name, and its flags (--json and --help go with any).
const COMMANDS: Record<string, { args: number; flags: string[] }> = {
  'calls show': { args: 1, flags: [] },
  'calls list': { args: 0, flags: ['--since', '--outcome'] },
  'calls withdraw': { args: 1, flags: ['--reason', '--server'] },
  'outbox list': { args: 0, flags: [] },
  'outbox retry': { args: 1, flags: ['--force'] },
  simulate: { args: 0, flags: ['--phone', '--server', '--live'] },
  'sign-url': { args: 1, flags: [] },
};

/** What is wrong with the command line, before anything is opened: an unknown command, word or flag. */
function misuse(parsed: ReturnType<typeof parseArgs>): string | undefined {
  const [first = '', second = ''] = parsed.positional;
  const name = COMMANDS[`${first} ${second}`] ? `${first} ${second}` : first;
  const command = COMMANDS[name];
  if (!command) return first ? `unknown command: ${parsed.positional.slice(0, 2).join(' ')}` : 'no command given';
  const words = parsed.positional.slice(name.split(' ').length);
  if (words.length < command.args) return `${name} needs ${name === 'sign-url' ? 'the path to sign' : 'the call, order or event to act on'}`;
  if (words.length > command.args) return `${name} takes ${command.args === 0 ? 'no words' : 'one word'} after it: ${words.slice(command.args).join(' ')} is too many`;
  const unknown = [...parsed.switches, ...parsed.values.keys()].find((flag) => flag !== '--json' && !command.flags.includes(flag));
  return unknown ? `${name} has no flag ${unknown}` : undefined;
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv);
  if (parsed.positional[0] === 'help' || parsed.switches.has('--help') || parsed.positional.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const json = parsed.switches.has('--json');
  jsonErrors = json;
  if (parsed.bare) return usage(`${parsed.bare} needs a value`);
  const wrong = misuse(parsed);
  if (wrong) return usage(wrong);
  const live = parsed.switches.has('--live');
  const force = parsed.switches.has('--force');
  // A CLI's answer is its output, not a log line: stdout for answers, stderr for problems.
  const out: Out = { json, print: (text, data) => void process.stdout.write(`${json ? JSON.stringify(data, null, 2) : text}\n`) };
  const flag = (name: string) => parsed.values.get(`--${name}`);
  const outcome = flag('outcome');
  if (outcome !== undefined && !OUTCOMES.includes(outcome)) return usage(`--outcome takes one of ${OUTCOMES.join(', ')}`);
  // Every mistake in the words is said (exit 2) before the configuration or the database is looked at.
  if (parsed.values.has('--since') && parseSince(flag('since')!) === undefined) return usage(SINCE_USAGE);
  const path = parsed.positional[0] === 'sign-url' ? parsed.positional[1]! : undefined;
  if (path !== undefined && !(URL.canParse(path, 'http://localhost') && signable(new URL(path, 'http://localhost')))) return usage(SIGN_URL_USAGE);
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message);
    throw error;
  }
  const [command, sub, arg] = parsed.positional;
  if (command === 'sign-url' && sub) {
    if (!config.webhookSecret) return fail('WEBHOOK_SECRET is not set: URLs are not signed');
    const url = new URL(sub, config.publicBaseUrl);
    const links = new Links(config.publicBaseUrl, config.webhookSecret);
    const target = signable(url);
    if (!target) return usage(SIGN_URL_USAGE);
    const call = url.searchParams.get('call') ?? undefined;
    let signed = target.kind === 'status' ? links.statusCallback(call!, target.attempt) : links.exomlStep(target.slug, { call, turn: url.searchParams.get('turn') ?? undefined });
    // What Exotel would add (Digits=2, Status=busy) rides along unsigned, as Exotel's own parameters do.
    // Ours (an old ts, sig) are signed afresh above, never carried over: a repeat of one is refused.
    const ours: readonly string[] = [...OWN_PARAMS, 'sig'];
    const extra = [...url.searchParams].filter(([key]) => !ours.includes(key));
    if (extra.length > 0) signed += `&${new URLSearchParams(extra).toString()}`;
    out.print(signed, { url: signed });
    return 0;
  }
  const server = flag('server') ?? `http://127.0.0.1:${config.port}`;
  const serverOk = URL.canParse(server) && /^https?:$/.test(new URL(server).protocol);
  const badServer = () => usage(`--server takes the server's http URL, such as http://127.0.0.1:${config.port}`);
  if (command === 'simulate') {
    const phone = flag('phone');
    if (!phone) return usage('simulate needs --phone');
    if (!serverOk) return badServer();
    return simulate(out, server.replace(/\/+$/, ''), config.apiToken, phone, live);
  }
  if (command === 'calls' && sub === 'withdraw' && arg) {
    if (!serverOk) return badServer();
    return withdraw(out, server.replace(/\/+$/, ''), config.apiToken, arg, flag('reason'));
  }
  // Reading commands never create or migrate a database: the file must be the service's own.
  if (!existsSync(config.databasePath)) {
    return fail(`no database at ${config.databasePath} (set DATABASE_PATH, or run from the service's folder)`);
  }
  const open = () => {
    try {
      return openDatabase(config.databasePath, { migrate: false });
    } catch (error) {
      throw new Error(`cannot open the database at ${config.databasePath}: ${(error as Error).message}`);
    }
  };
  if (command === 'outbox' && sub === 'retry' && arg) {
    if (!config.outcome.webhookUrl) return fail('OUTCOME_WEBHOOK_URL is not set: there is nowhere to deliver to');
    const db = open();
    try {
      const done = new OutboxStore(db).retry(arg, force);
      if (!done.due && done.reason === 'superseded') {
        return fail(`${arg}: a later outcome of its order (${done.by}) was delivered, so this one would arrive last and look current; --force sends it anyway`);
      }
      if (!done.due) return fail(`no undelivered outcome ${arg}`);
      out.print(`${arg}: due now; the running server delivers it`, { event_id: arg, due: true });
      return 0;
    } finally {
      db.close();
    }
  }
  const db = open();
  try {
    const store = new CallStore(db);
    const outbox = new OutboxStore(db);
    const view = (id: string) => {
      const call = store.get(id)!;
      return callView(call, store.attempts(id), store.events(id), outbox.forCall(id));
    };
    if (command === 'calls' && sub === 'show' && arg) {
      const { calls, truncated } = findCalls(store, arg);
      if (calls.length === 0) return fail(`no call for ${arg}`);
      if (truncated) process.stderr.write(`only the newest ${calls.length} calls for ${arg}: show an older one by its order id\n`);
      const views = calls.map((c) => ({ ...view(c.id), events: eventsView(c, store.events(c.id)) }));
      // Always a list: an order called again (recall=true) or a number has several calls.
      out.print(views.map(timeline).join('\n\n'), views);
      return 0;
    }
    if (command === 'calls' && sub === 'list') {
      const since = parseSince(flag('since') ?? '24h');
      if (since === undefined) return usage(SINCE_USAGE);
      // Filtered in SQL, so a busy hour's older calls are not hidden behind the newest; capped, and said so.
      const found = store.createdSince(new Date(Date.now() - since), outcome, LIST_LIMIT + 1);
      const calls = found.slice(0, LIST_LIMIT).map((c) => view(c.id));
      out.print(calls.map((c) => `${c.created_at}  ${c.order_id}  ${c.flow}  ${c.status}  ${c.outcome}  ${c.call_id}`).join('\n') || 'no calls', calls);
      if (found.length > LIST_LIMIT) process.stderr.write(`only the newest ${LIST_LIMIT}: narrow --since or --outcome for the rest\n`);
      return 0;
    }
    if (command === 'outbox' && sub === 'list') {
      const listed = outbox.list(OUTBOX_LIMIT + 1);
      const items = listed.slice(0, OUTBOX_LIMIT).map((i) => ({ ...deliveryView(i), call_id: i.callId, created_at: i.createdAt, due_at: i.dueAt, payload: i.payload }));
      out.print(items.map((i) => `${i.created_at}  ${i.event_id}  ${i.state}  tries ${i.tries}${i.last_error ? `  ${i.last_error}` : ''}`).join('\n') || 'no outcomes', items);
      if (listed.length > OUTBOX_LIMIT) process.stderr.write(`only the newest ${OUTBOX_LIMIT}: an older outcome shows on its call (calls show <order id>)\n`);
      return 0;
    }
  } finally {
    db.close();
  }
  return usage();
}

function timeline(call: ReturnType<typeof callView> & { events: ReturnType<typeof eventsView> }): string {
  const lines = [
    `${call.order_id}  ${call.flow}  ${call.vendor_phone}  call ${call.call_id}  CallSid ${call.call_sid ?? '-'}`,
    `status ${call.status}  outcome ${call.outcome}  language ${call.language}  values ${JSON.stringify(call.values)}`,
    ...(call.scheduled_for ? [`next dial at ${call.scheduled_for}${call.failure ? `  (${call.failure.reason}: ${call.failure.code})` : ''}`] : []),
    `delivery ${call.delivery ? `${call.delivery.state} (${call.delivery.tries} tries)` : '-'}  recording ${call.recording_url ? 'yes' : 'no'}`,
    ...call.attempts.map((a) => `  attempt ${a.attempt}: ${a.result} ${a.status ?? ''} ${a.error ? `${a.error.code}` : ''}`.trimEnd()),
    ...call.events.flatMap((e) => [
      `  ${e.at}  ${e.pressed !== null ? `pressed ${e.pressed} at ${e.step}` : e.kind === 'status_callback' ? `status ${firstPresent(e.params, ['Status', 'CallStatus']) ?? ''}${e.params.attempt ? ` (dial ${e.params.attempt})` : ''}` : `${e.kind} ${e.route}`}${e.note ? `  (${e.note})` : ''}`,
      // What the vendor heard in answer.
      ...(e.said ? [`      said: ${e.said}`] : []),
    ]),
  ];
  return lines.join('\n');
}

async function simulate(out: Out, server: string, token: string | undefined, phone: string, live: boolean): Promise<number> {
  // A test number is a real-looking Indian mobile: against a live server it would ring whoever has it.
  const health = await request(`${server}/health`).then((r) => r.body.json() as Promise<{ exotel?: string }>).catch((error: Error) => error);
  if (health instanceof Error) return fail(`cannot reach ${server}: ${health.message}`);
  if (health.exotel !== 'simulator' && !live) {
    return fail(`${server} does not say its calls go to the simulator (exotel: ${health.exotel ?? 'not given'}): this would ring a real phone. Add --live if you mean it.`);
  }
  const headers = apiHeaders(token);
  const orderId = `SIM-${Date.now()}`;
  const placed = await request(`${server}/api/call/vendor-order`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ vendor_phone: phone, vendor_name: 'Simulated Vendor', order_id: orderId, order_amount: 550, items: 'Tomato 2kg' }),
  }).catch((error: Error) => error);
  if (placed instanceof Error) return fail(`cannot reach ${server}: ${placed.message}`);
  const answer = (await placed.body.json().catch(() => ({}))) as { call_id?: string; message?: string };
  if (!answer.call_id || (placed.statusCode !== 200 && placed.statusCode !== 202)) {
    return fail(`the server refused: ${answer.message ?? placed.statusCode}${tokenHint(placed.statusCode)}`);
  }
  // Wait while the call is live: a busy vendor is redialled, a queued call is dialled at scheduled_for.
  let deadline = Date.now() + SIMULATE_WAIT_MS;
  // A vendor held by other calls moves the next dial on and on: not for ever.
  const latest = Date.now() + 2 * SIMULATE_QUEUE_LIMIT_MS;
  let said = '';
  for (;;) {
    const read = await request(`${server}/api/calls/${answer.call_id}?include=events`, { headers });
    const body = (await read.body.json().catch(() => ({}))) as { call?: Parameters<typeof timeline>[0] & { settled_at: string | null; scheduled_for: string | null } };
    if (read.statusCode === 429) {
      if (Date.now() > deadline) return fail(`call ${answer.call_id}: the server's rate limit kept it from being read back; see \`exotel-caller calls show ${answer.call_id}\``);
      // The API's rate limit is the backend's too (one token): step back as long as the server asks.
      const seconds = Number(read.headers['retry-after']);
      await pause(Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 60) * 1000 : 5_000);
      continue;
    }
    if (read.statusCode !== 200) return fail(`cannot read call ${answer.call_id} back: ${read.statusCode}${tokenHint(read.statusCode)}`);
    const call = body.call;
    if (call?.settled_at) {
      out.print(timeline(call), call);
      return 0;
    }
    const due = call?.scheduled_for ? new Date(call.scheduled_for).getTime() : NaN;
    if (due > Date.now() + SIMULATE_QUEUE_LIMIT_MS) {
      return fail(`call ${answer.call_id} is queued until ${call!.scheduled_for} (${call!.failure?.reason ?? 'calling hours, a busy line or a redial'}): not waiting; see \`exotel-caller calls show ${answer.call_id}\` then`);
    }
    if (due > 0) deadline = Math.min(latest, Math.max(deadline, due + SIMULATE_WAIT_MS));
    const now = `${call?.status ?? 'unknown'}${call?.scheduled_for ? `, next dial at ${call.scheduled_for}` : ''}`;
    if (now !== said && !out.json) process.stderr.write(`${(said = now)}\n`);
    if (Date.now() > deadline) return fail(`call ${answer.call_id} did not end in time (last: ${now})`);
    await pause(SIMULATE_POLL_MS);
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** POST /api/calls/:key/withdraw on the running server: 0 withdrawn or marked (now or before), 1 refused or not found. */
async function withdraw(out: Out, server: string, token: string | undefined, key: string, reason: string | undefined): Promise<number> {
  const headers = apiHeaders(token);
  const sent = await request(`${server}/api/calls/${encodeURIComponent(key)}/withdraw`, {
    method: 'POST',
    headers,
    body: JSON.stringify(reason === undefined ? {} : { reason }),
  }).catch((error: Error) => error);
  if (sent instanceof Error) return fail(`cannot reach ${server}: ${sent.message}`);
  const answer = (await sent.body.json().catch(() => ({}))) as { existing?: boolean; message?: string; call?: { call_id: string; order_id: string } };
  if ((sent.statusCode !== 200 && sent.statusCode !== 202) || !answer.call) {
    return fail(`not withdrawn: ${answer.message ?? sent.statusCode}${tokenHint(sent.statusCode)}`);
  }
  const { call_id: id, order_id: order } = answer.call;
  if (sent.statusCode === 202) {
    // A dial is out: it may still ring; it is never dialled again and settles withdrawn when the dial ends.
    out.print(`call ${id} (order ${order}) ${answer.existing ? 'was marked withdrawn already' : 'marked withdrawn'}: a dial is out and may still ring; never dialled again, it settles withdrawn when that dial ends`, answer);
    return 0;
  }
  out.print(answer.existing ? `call ${id} (order ${order}) was withdrawn already` : `call ${id} (order ${order}) withdrawn: it will not be dialled`, answer);
  return 0;
}

/** Our API's headers, with the API token when the CLI has one. */
function apiHeaders(token: string | undefined): Record<string, string> {
  return { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
}

/** A 401 says where the CLI takes the token from. */
const tokenHint = (status: number) => (status === 401 ? ' (the CLI sends API_TOKEN from its environment or .env)' : '');

// Flags without a value; --reason takes the next word whatever it is (free text may start with -- or be -h).
const SWITCHES = new Set(['--json', '--live', '--force', '--help']);
const FREE_TEXT = new Set(['--reason']);

/**
 * The words in order: switches, flags with their values, and the rest. Every other flag takes a value that
 * is not itself a flag: `--since` alone is a mistake to say, not "the last 24 h" (`bare` names the first).
 */
function parseArgs(argv: string[]) {
  const switches = new Set<string>();
  const values = new Map<string, string>();
  const positional: string[] = [];
  let bare: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (SWITCHES.has(word)) switches.add(word);
    else if (!word.startsWith('--')) positional.push(word);
    else if (i + 1 < argv.length && (FREE_TEXT.has(word) || !argv[i + 1]!.startsWith('--'))) values.set(word, argv[++i]!);
    else bare ??= word;
  }
  return { switches, values, positional, bare };
}

const SINCE_USAGE = '--since takes a duration such as 30m, 1h or 2d';
const SIGN_URL_USAGE = 'sign-url takes an ExoML path (/exoml/vendor-action?call=call_x&turn=1) or /webhook/exotel/status?call=call_x&attempt=1 (a number)';

/** What sign-url can sign: an ExoML step, or a call's status callback (with its attempt, 1 if absent). */
function signable(url: URL): { kind: 'status'; attempt: number } | { kind: 'exoml'; slug: string } | undefined {
  const attempt = url.searchParams.get('attempt') ?? '1';
  if (url.pathname === '/webhook/exotel/status' && url.searchParams.get('call') && /^\d{1,3}$/.test(attempt)) return { kind: 'status', attempt: Number(attempt) };
  const slug = /^\/exoml\/([\w-]+)$/.exec(url.pathname)?.[1];
  return slug ? { kind: 'exoml', slug } : undefined;
}

/** A duration back from now, in ms: at most back to 1970, so it still names a date. */
function parseSince(text: string): number | undefined {
  const match = /^(\d{1,9})([smhd])$/.exec(text);
  if (!match) return undefined;
  const ms = Number(match[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return ms <= Date.now() ? ms : undefined;
}

// With --json, a failure is JSON on stdout too, so a script reads one shape whatever happened.
let jsonErrors = false;

function fail(message: string): number {
  process.stderr.write(`${message}\n`);
  if (jsonErrors) process.stdout.write(`${JSON.stringify({ error: { exit_code: 1, message } })}\n`);
  return 1;
}

function usage(message?: string): number {
  if (message) process.stderr.write(`${message}\n`);
  process.stderr.write(`${USAGE}\n`);
  if (jsonErrors) process.stdout.write(`${JSON.stringify({ error: { exit_code: 2, message: message ?? 'usage' } })}\n`);
  return 2;
}

// Exit once stdout is flushed: a pipe takes 64 KiB at a time, and process.exit would cut the rest off.
// Anything unforeseen (a file that is not SQLite, say) is one line, not a stack trace.
main(process.argv.slice(2))
  .catch((error: Error) => fail(`exotel-caller: ${error.message}`))
  .then((code) => process.stdout.write('', () => process.exit(code)));
