// Configuration is read once at boot; a bad value stops the server with one line naming the variable.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('loadConfig', () => {
  it('defaults to port 3151, a SQLite file under ./data and the simulator when no credentials are set', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3151,
      host: '127.0.0.1',
      publicBaseUrl: 'http://127.0.0.1:3151',
      databasePath: './data/exotel-caller.db',
      apiToken: undefined,
      webhookSecret: undefined,
      exotel: { mode: 'simulator', apiBaseUrl: 'https://api.exotel.com', statusCallbackEvents: [] },
    });
  });

  it('goes live when credentials are set, and then needs every live setting', () => {
    expect(() => loadConfig({ EXOTEL_ACCOUNT_SID: 'acct', EXOTEL_API_KEY: 'key', EXOTEL_API_TOKEN: 'tok' })).toThrow(
      'Invalid configuration: EXOTEL_CALLER_ID is required when EXOTEL_MODE=live; PUBLIC_BASE_URL is required when EXOTEL_MODE=live',
    );
    const live = loadConfig({
      EXOTEL_ACCOUNT_SID: 'acct', EXOTEL_API_KEY: 'key', EXOTEL_API_TOKEN: 'tok', EXOTEL_CALLER_ID: '08000000000',
      PUBLIC_BASE_URL: 'https://caller.example.test/', EXOTEL_API_BASE_URL: 'https://api.in.exotel.com',
    });
    expect(live.exotel).toMatchObject({ mode: 'live', accountSid: 'acct', apiBaseUrl: 'https://api.in.exotel.com', callerId: '08000000000' });
    expect(live.publicBaseUrl).toBe('https://caller.example.test');
  });

  it.each([
    [{ PORT: 'abc' }, /^Invalid configuration: PORT must be a whole number from 0 to 65535 \(got "abc"\)$/],
    [{ PORT: '70000' }, /^Invalid configuration: PORT must be a whole number from 0 to 65535 \(got "70000"\)$/],
    [{ PUBLIC_BASE_URL: 'ftp://x' }, /^Invalid configuration: PUBLIC_BASE_URL must be an http\(s\) URL/],
    [{ EXOTEL_MODE: 'production' }, /^Invalid configuration: EXOTEL_MODE must be live or simulator \(got "production"\)$/],
    [{ EXOTEL_CALLER_ID: '080-4855 6923' }, /^Invalid configuration: EXOTEL_CALLER_ID must be digits with an optional leading \+/],
    [{ LOG_LEVEL: 'loud' }, /^Invalid configuration: LOG_LEVEL /],
    [{ EXOTEL_MODE: 'live' }, /EXOTEL_ACCOUNT_SID is required when EXOTEL_MODE=live/],
    [{ EXOTEL_FLOW_MODE: 'voicebot' }, /^Invalid configuration: PROMPTS_DIR is required when EXOTEL_FLOW_MODE=voicebot/],
    [{ METRICS_PORT: '3151' }, /^Invalid configuration: METRICS_PORT must differ from PORT/],
    [{ PORT: '8080', METRICS_PORT: '8080' }, /^Invalid configuration: METRICS_PORT must differ from PORT/],
    [{ EXOTEL_FLOW_MODE: 'voicebot', PROMPTS_DIR: '/p', VOICEBOT_SAMPLE_RATE: '44100' }, /^Invalid configuration: VOICEBOT_SAMPLE_RATE must be 8000, 16000 or 24000/],
    [{ EXOTEL_MODE: 'live', EXOTEL_ACCOUNT_SID: 'a', EXOTEL_API_KEY: 'k', EXOTEL_API_TOKEN: 't', EXOTEL_CALLER_ID: '08000000000', PUBLIC_BASE_URL: 'https://caller.example.test', EXOTEL_FLOW_MODE: 'voicebot', PROMPTS_DIR: '/p' }, /EXOTEL_APP_ID is required when EXOTEL_FLOW_MODE=voicebot with a live Exotel; APPLET_PATH_TOKEN is required/],
  ])('refuses %j with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('never echoes a secret it refuses', () => {
    try {
      loadConfig({ EXOTEL_MODE: 'live', EXOTEL_API_TOKEN: 'super-secret-value' });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain('super-secret-value');
    }
  });
});

describe('the server process', () => {
  it('stops at boot with one line on stderr and exit code 1 when a variable is bad', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: { PATH: process.env.PATH, PORT: 'not-a-port', DOTENV_CONFIG_PATH: '/nonexistent/.env' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe('Invalid configuration: PORT must be a whole number from 0 to 65535 (got "not-a-port")\n');
    expect(run.stdout).toBe('');
  });
});
