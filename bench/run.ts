// npm run bench: loopback only, bounded. The server runs as its own process (simulator mode, a fresh
// database, a webhook secret), a bare Fastify route beside it is the ceiling, and autocannon measures:
// the greeting step (signature check, state read, event write, ExoML render), a Gather action step, and
// the status webhook (durable writes). Then a soak for memory. Prints a table, writes BENCHMARKS.md, and
// says which target is missed. BENCH_SECONDS (10, after BENCH_WARMUP_SECONDS of 3 unmeasured) and
// BENCH_SOAK_REQUESTS (1,000,000) bound it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { request } from 'undici';
import { startSimulator } from '../src/simulator/exotel-simulator.js';
import { testPrompts } from '../test/helpers/prompts.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const SOAK = Number(process.env.BENCH_SOAK_REQUESTS ?? 1_000_000);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 100);
const CONNECTIONS = 50;
const TOKEN = 'bench-api-token-0123456789abcdefghijkl';
const SECRET = 'bench-webhook-secret-0123456789abcdefgh';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

async function startProcess(args: string[], env: Record<string, string>, ready: (out: string) => boolean): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-10_000)));
  for (let i = 0; i < 200 && !ready(out); i++) await new Promise((r) => setTimeout(r, 50));
  return child;
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ connections: CONNECTIONS, ...opts }, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'exotel-caller-bench-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = await startProcess(
    ['--import', 'tsx', 'src/server.ts'],
    { PORT: String(port), DATABASE_PATH: join(dir, 'bench.db'), API_TOKEN: TOKEN, WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'error', API_RATE_LIMIT_PER_MINUTE: '1000000', DOTENV_CONFIG_PATH: join(dir, 'none') },
    () => false,
  );
  await waitForHealth(base);
  const ceilingPort = await freePort();
  const ceiling = await startProcess(
    ['--input-type=module', '-e', `import Fastify from 'fastify'; const a = Fastify(); a.get('/', async () => ({ ok: true })); await a.listen({ port: ${ceilingPort}, host: '127.0.0.1' }); console.log('ready');`],
    {},
    (out) => out.includes('ready'),
  );

  // The least any step keeping "stored before answered" does (bench/durable-floor.mjs): where the ceiling
  // stands for this machine's Fastify, this stands for this machine's disk and SQLite under the same load.
  const floorPort = await freePort();
  const floor = await startProcess(['bench/durable-floor.mjs', String(floorPort), join(dir, 'floor.db')], {}, (out) => out.includes('ready'));

  // A call to measure against: placed through the API (the simulator answers it), then its signed URLs.
  const placed = await request(`${base}/api/call/vendor-order`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ vendor_phone: '9000000006', vendor_name: 'Bench Vendor', order_id: 'BENCH-1', order_amount: 550, items: 'Tomato 2kg' }),
  });
  const { call_id: callId } = (await placed.body.json()) as { call_id: string };
  await new Promise((r) => setTimeout(r, 2_000));
  const sign = (path: string, query: string) => {
    const out = spawnSyncText(['bin/exotel-caller.mjs', 'sign-url', `${path}?${query}`], { DATABASE_PATH: join(dir, 'bench.db'), WEBHOOK_SECRET: SECRET, PUBLIC_BASE_URL: base });
    return out.trim().replace(base, '');
  };
  const greeting = sign('/exoml/vendor-greeting', `call=${callId}`);
  const action = sign('/exoml/vendor-action', `call=${callId}&turn=1`);
  const status = sign('/webhook/exotel/status', `call=${callId}&attempt=1`);

  const results: Array<{ name: string; rps: number; p99: number; errors: number }> = [];
  const measure = async (name: string, opts: autocannon.Options) => {
    // Every route, the ceiling too, is measured warm: a long-running service's JIT has compiled its hot path.
    await run({ ...opts, duration: WARMUP_SECONDS });
    const r = await run({ duration: SECONDS, ...opts });
    results.push({ name, rps: r.requests.average, p99: r.latency.p99, errors: r.errors + r.non2xx });
    return r;
  };
  await measure('ceiling: bare Fastify route', { url: `http://127.0.0.1:${ceilingPort}/` });
  await measure('floor: bare Fastify + one row read, one event appended, group commit (FULL)', { url: `http://127.0.0.1:${floorPort}/?CallSid=benchsid` });
  await measure('greeting step (ExoML)', { url: `${base}${greeting}` });
  await measure('Gather action step (ExoML)', { url: `${base}${action}`, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Digits=7&CallSid=benchsid' });
  await measure('status webhook (durable writes)', {
    url: `${base}${status}`,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'CallSid=benchsid&Status=completed&RecordingUrl=&DateUpdated=2026-11-22%2010%3A00%3A00',
  });

  // Memory: RSS after the first 10 % of the soak, and after all of it.
  const soakOpts = { url: `${base}${greeting}` };
  await run({ ...soakOpts, amount: Math.round(SOAK / 10) });
  const rssEarly = rssMb(server.pid!);
  await run({ ...soakOpts, amount: SOAK - Math.round(SOAK / 10) });
  const rssLate = rssMb(server.pid!);

  server.kill('SIGTERM');
  ceiling.kill('SIGTERM');
  floor.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
  const streams = await streamLoad();

  const ceilingRps = results[0]!.rps;
  const floorRps = results[1]!.rps;
  const greet = results[2]!;
  const webhook = results[4]!;
  const targets = [
    {
      target: 'greeting ≥ 0.5× ceiling req/s',
      met: greet.rps >= 0.5 * ceilingRps,
      value: `${(greet.rps / ceilingRps).toFixed(2)}× (the durable floor: ${(floorRps / ceilingRps).toFixed(2)}×)`,
    },
    { target: 'greeting p99 ≤ 10 ms at 50 connections', met: greet.p99 <= 10, value: `${greet.p99} ms` },
    { target: 'status webhook ≥ 5,000 durable writes/s', met: webhook.rps >= 5_000, value: `${Math.round(webhook.rps)}/s` },
    {
      target: `${STREAMS} concurrent Voicebot streams hold pacing (lead ≤ 700 ms, no gap > 100 ms, aligned chunks, right outcomes)`,
      met: streams.problems.length === 0 && streams.maxLeadMs <= 700 && streams.maxGapMs <= 100 && streams.correct === STREAMS,
      value: `lead ${Math.round(streams.maxLeadMs)} ms, gap ${Math.round(streams.maxGapMs)} ms, ${streams.correct}/${STREAMS} right, ${streams.problems.length} problems`,
    },
    { target: `RSS after ${SOAK.toLocaleString('en')} within 10 % of RSS after ${(SOAK / 10).toLocaleString('en')}`, met: rssLate <= rssEarly * 1.1, value: `${rssEarly.toFixed(0)} → ${rssLate.toFixed(0)} MB` },
  ];
  const table = [
    '| step | req/s | p99 ms | errors |',
    '|---|---|---|---|',
    ...results.map((r) => `| ${r.name} | ${Math.round(r.rps)} | ${r.p99} | ${r.errors} |`),
    '',
    '| target | value | met |',
    '|---|---|---|',
    ...targets.map((t) => `| ${t.target} | ${t.value} | ${t.met ? 'yes' : '**no**'} |`),
  ].join('\n');
  const report = `# Benchmarks\n\nMeasured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: loopback, ${CONNECTIONS} connections, ${SECONDS} s a step after ${WARMUP_SECONDS} s of warm-up, node ${process.version}, this machine's 2 cores shared by the server, the ceiling and autocannon.\n\n${table}\n`;
  // The measured part is rewritten each run; what the numbers mean is kept by hand in bench/analysis.md.
  const analysis = existsSync('bench/analysis.md') ? `\n${readFileSync('bench/analysis.md', 'utf8')}` : '';
  writeFileSync('BENCHMARKS.md', report + analysis);
  console.log(table);
  const missed = targets.filter((t) => !t.met);
  console.log(missed.length ? `\nMissed: ${missed.map((t) => t.target).join('; ')}` : '\nAll targets met.');
}

/**
 * 100 calls at once in voicebot mode: the server as its own process, Exotel simulated in this one, so the
 * streams' pacing is measured by the peer, as Exotel would hear it. Each vendor sets a preparation time
 * (3, then 2 0 #): three prompts per call, paced at real time.
 */
async function streamLoad() {
  const dir = mkdtempSync(join(tmpdir(), 'exotel-caller-bench-streams-'));
  const prompts = testPrompts();
  const account = { accountSid: 'bench-account', apiKey: 'bench-key', apiToken: 'bench-token-not-a-secret' };
  const simulator = await startSimulator({ account });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const pathToken = 'bench-applet-path-token-0123456789abcdef';
  const server = await startProcess(['--import', 'tsx', 'src/server.ts'], {
    PORT: String(port), PUBLIC_BASE_URL: base, DATABASE_PATH: join(dir, 'streams.db'), API_TOKEN: TOKEN, WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'error',
    EXOTEL_MODE: 'live', EXOTEL_API_BASE_URL: simulator.url, EXOTEL_ACCOUNT_SID: account.accountSid, EXOTEL_API_KEY: account.apiKey,
    EXOTEL_API_TOKEN: account.apiToken, EXOTEL_CALLER_ID: '08000000000', EXOTEL_FLOW_MODE: 'voicebot', EXOTEL_APP_ID: 'bench-app',
    APPLET_PATH_TOKEN: pathToken, PROMPTS_DIR: prompts.dir, CALLING_WINDOW: '00:00-24:00', EXOTEL_CALLS_PER_MINUTE: '10000',
    API_RATE_LIMIT_PER_MINUTE: '1000000', DOTENV_CONFIG_PATH: join(dir, 'none'),
  }, () => false);
  try {
    await waitForHealth(base);
    const applet = (name: string) => `${base}/applet/${pathToken}/${name}`;
    simulator.installVoicebotRecipe('bench-app', { streamUrl: applet('voicebot'), connectUrl: applet('connect'), passthruUrl: applet('passthru') });
    const calls = await Promise.all(
      Array.from({ length: STREAMS }, async (_, i) => {
        const placed = await request(`${base}/api/call/vendor-order`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          // 9000 NNNN 03 acts as 9000000003; one number per call (one live call per vendor).
          body: JSON.stringify({ vendor_phone: `9000${String(1000 + i).padStart(4, '0')}03`, vendor_name: 'Bench Vendor', order_id: String(70_000 + i), order_amount: 550, items: 'x' }),
        });
        const { call_sid: sid, call_id: id } = (await placed.body.json()) as { call_sid: string; call_id: string };
        const simulated = await simulator.finished(sid);
        const read = await request(`${base}/api/calls/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } });
        const view = (await read.body.json()) as { call: { outcome: string; prep_time_minutes: number | null } };
        return { simulated, right: view.call.outcome === 'accepted' && view.call.prep_time_minutes === 20 };
      }),
    );
    const reports = calls.map((c) => c.simulated.stream).filter((r) => r !== undefined);
    return {
      maxLeadMs: Math.max(0, ...reports.map((r) => r.maxLeadMs)),
      maxGapMs: Math.max(0, ...reports.map((r) => r.maxGapMs)),
      correct: calls.filter((c) => c.right).length,
      problems: calls.flatMap((c) => (c.simulated.problem ? [c.simulated.problem] : [])),
    };
  } finally {
    server.kill('SIGTERM');
    await simulator.close();
    prompts.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitForHealth(base: string) {
  for (let i = 0; i < 200; i++) {
    try {
      const health = await request(`${base}/health`);
      await health.body.dump();
      if (health.statusCode === 200) return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function spawnSyncText(args: string[], env: Record<string, string>): string {
  return execFileSync(process.execPath, args, { env: { PATH: process.env.PATH ?? '', DOTENV_CONFIG_PATH: '/nonexistent/.env', ...env }, encoding: 'utf8' });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
