// The real process on SIGTERM (systemd's stop): whatever a client left open, it stops, says `stopped` and
// exits 0 well inside TimeoutStopSec: a socket that never finishes its request, a stream peer gone dark.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/harness.js';
import { testPrompts } from '../helpers/prompts.js';

let prompts: ReturnType<typeof testPrompts>;
beforeAll(() => {
  prompts = testPrompts();
});
afterAll(() => prompts.remove());

/** Starts `npm start`'s server (simulator mode, a 1 s drain), opens a raw socket, sends `bytes`, then SIGTERM. */
async function stopWithSocketOpen(bytes: string, env: Record<string, string> = {}): Promise<{ code: number | null; seconds: number; out: string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'exotel-caller-sigterm-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', SHUTDOWN_DRAIN_SECONDS: '1', DATABASE_PATH: join(dir, 'calls.db'), DOTENV_CONFIG_PATH: join(dir, 'no.env'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let socket: Socket | undefined;
  try {
    for (let i = 0; i < 150 && !out.includes('Exotel caller ready'); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((resolve) => socket!.once('connect', resolve));
    // It never reads: a peer gone dark answers no close frame.
    socket.pause();
    if (bytes) socket.write(bytes);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const start = Date.now();
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 25_000))]);
    return { code: code === 'running' ? -1 : code, seconds: (Date.now() - start) / 1000, out };
  } finally {
    socket?.destroy();
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('SIGTERM with a connection left open', () => {
  it.each([
    ['a connection that sent nothing yet (a browser preconnect)', ''],
    ['a request whose body stalls (a client gone mid-upload)', 'POST /webhook/exotel/status HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nCallSid=abc'],
  ])('%s: the process still stops within seconds', async (_name, bytes) => {
    const stopped = await stopWithSocketOpen(bytes);
    expect(stopped.code).toBe(0);
    expect(stopped.seconds).toBeLessThan(10);
    expect(stopped.out).toContain('"msg":"stopped"');
  }, 60_000);

  it('a Voicebot stream whose peer never answers the close frame is cut after 2 s, not ws\'s 30 s', async () => {
    const upgrade = [
      'GET /voicebot/simulated-applet-path-token-not-a-secret HTTP/1.1', 'Host: x', 'Upgrade: websocket', 'Connection: Upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', '', '',
    ].join('\r\n');
    const stopped = await stopWithSocketOpen(upgrade, { EXOTEL_FLOW_MODE: 'voicebot', PROMPTS_DIR: prompts.dir });
    expect(stopped.code).toBe(0);
    expect(stopped.seconds).toBeLessThan(10);
    expect(stopped.out).toContain('"msg":"stopped"');
  }, 60_000);
});
