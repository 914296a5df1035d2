// What the call's life needs, handed to the functions of src/calls and src/jobs (built once in app.ts).
import type { FastifyBaseLogger } from 'fastify';
import type { ClipLibrary } from '../audio/clip-library.js';
import type { Config } from '../config.js';
import type { ExotelClient } from '../exotel/client.js';
import type { Links } from '../links.js';
import type { Metrics } from '../metrics.js';
import type { CallStore } from '../store/calls.js';
import type { ExotelLedger } from '../store/exotel-ledger.js';
import type { OutboxStore } from '../store/outbox.js';

export interface CallDeps {
  config: Config;
  store: CallStore;
  outbox: OutboxStore;
  ledger: ExotelLedger;
  exotel: ExotelClient;
  links: Links;
  log: FastifyBaseLogger;
  metrics: Metrics;
  /** Recorded prompts and the stitched files kept for them (pruned by the scheduler). */
  clips: ClipLibrary;
  now: () => Date;
  /** 0 ≤ r < 1, for jittered backoff; injectable so tests can pin it. */
  random: () => number;
}

/** Exponential backoff with full jitter, capped: attempt 0 waits about `base`, then 2×, 4×, … */
export function backoffMs(deps: CallDeps, tries: number): number {
  const { retryBaseMs, retryMaxMs } = deps.config.jobs;
  const ceiling = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(tries, 20));
  return Math.round(ceiling / 2 + (deps.random() * ceiling) / 2);
}

export const later = (deps: CallDeps, ms: number): Date => new Date(deps.now().getTime() + ms);
