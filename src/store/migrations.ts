// Versioned schema. Each entry runs once, in order, inside a transaction; PRAGMA user_version records how
// far a database has come. Never edit a shipped migration: add the next one.
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE calls (
    id                TEXT PRIMARY KEY,              -- our call reference: rides in every URL we hand Exotel
    flow              TEXT NOT NULL,
    order_id          TEXT NOT NULL,
    phone             TEXT NOT NULL,                 -- E.164
    language          TEXT NOT NULL,
    context_json      TEXT NOT NULL,                 -- what the prompts are filled from
    state_json        TEXT NOT NULL,                 -- the flow engine's state
    transport         TEXT NOT NULL,                 -- exoml | applet: how Exotel runs this call's flow
    last_reply        TEXT,                          -- the engine's last reply (JSON): a repeated request gets it again
    asked_turn        INTEGER,                       -- applet mode: the turn whose question Exotel fetched last
    status            TEXT NOT NULL,                 -- queued | dialing | verifying | failed | Exotel's status of the current attempt
    outcome           TEXT NOT NULL DEFAULT 'pending',
    prep_time_minutes INTEGER,
    agent_status      TEXT,                          -- after a transfer: how the agent leg ended (completed, no-answer, ...)
    exotel_call_sid   TEXT,                          -- the current attempt's CallSid
    current_attempt   INTEGER,
    duration_seconds  INTEGER,
    recording_url     TEXT,
    failure_code      TEXT,
    failure_reason    TEXT,                          -- dnd | exotel_refused | exotel_unavailable | retrying | verifying | no_final_status
    failure_message   TEXT,                          -- Exotel's own words, where it gave any
    dispatch_due_at   TEXT,                          -- set while the call waits to be dialled (queue, retry, redial)
    dispatch_retries  INTEGER NOT NULL DEFAULT 0,    -- Connect requests in a row that reached no Exotel call
    redials           INTEGER NOT NULL DEFAULT 0,
    reconcile_due_at  TEXT,                          -- set while we wait for a final status
    reconcile_tries   INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    ended_at          TEXT,
    settled_at        TEXT                           -- the final outcome is known and in the outbox
  );
  CREATE INDEX calls_by_order ON calls (order_id, created_at);
  -- One live call per order and flow.
  CREATE UNIQUE INDEX calls_one_live_per_order ON calls (order_id, flow) WHERE settled_at IS NULL;
  CREATE INDEX calls_dispatch_due ON calls (dispatch_due_at) WHERE dispatch_due_at IS NOT NULL;
  CREATE INDEX calls_reconcile_due ON calls (reconcile_due_at) WHERE reconcile_due_at IS NOT NULL;

  -- One row per Calls/connect request: written before it leaves, completed with what Exotel answered.
  CREATE TABLE attempts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id          TEXT NOT NULL REFERENCES calls (id),
    number           INTEGER NOT NULL,
    exotel_call_sid  TEXT UNIQUE,
    result           TEXT NOT NULL,                  -- sent | placed | adopted | not_placed | unknown | failed
    status           TEXT,                           -- Exotel's status of this attempt's call
    duration_seconds INTEGER,
    recording_url    TEXT,
    error_code       TEXT,
    error_message    TEXT,
    requested_at     TEXT NOT NULL,
    answered_at      TEXT,
    ended_at         TEXT,
    UNIQUE (call_id, number)
  );

  -- Append-only: every request Exotel made to us and every answer we took from it.
  CREATE TABLE call_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id     TEXT REFERENCES calls (id),
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    route       TEXT NOT NULL,
    step        TEXT,
    digits      TEXT,
    params_json TEXT NOT NULL
  );
  CREATE INDEX call_events_by_call ON call_events (call_id, id);

  -- Every request we made to Exotel's API, for the rolling per-minute limit (survives restarts).
  CREATE TABLE exotel_requests (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    at   TEXT NOT NULL,
    kind TEXT NOT NULL                               -- connect | details | list
  );
  CREATE INDEX exotel_requests_by_time ON exotel_requests (at);

  CREATE TABLE idempotency_keys (
    key        TEXT PRIMARY KEY,
    call_id    TEXT NOT NULL REFERENCES calls (id),
    created_at TEXT NOT NULL
  );

  -- Outcomes for the backend, written in the transaction that settles the call; delivered at least once.
  CREATE TABLE outbox (
    event_id     TEXT PRIMARY KEY,
    call_id      TEXT NOT NULL REFERENCES calls (id),
    payload_json TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    due_at       TEXT,                               -- NULL once delivered or dead
    tries        INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    delivered_at TEXT,
    dead_at      TEXT
  );
  CREATE INDEX outbox_due ON outbox (due_at) WHERE due_at IS NOT NULL;

  -- The language a number last chose or was called in: the default for its next call.
  CREATE TABLE phone_languages (
    phone      TEXT PRIMARY KEY,
    language   TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );

  CREATE TABLE service_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  `
  -- Lookups of one ambiguous Connect have a budget of their own: the dial retries may be used up already,
  -- and a 5xx must still be checked before the call ends (calls/verify.ts).
  ALTER TABLE calls ADD COLUMN verify_tries INTEGER NOT NULL DEFAULT 0;
  -- The scheduler looks for Connect requests without a stored answer once a minute.
  CREATE INDEX attempts_unanswered ON attempts (requested_at) WHERE result = 'sent';
  `,
  `
  -- An outcome waits behind an earlier undelivered one of its order (store/outbox.ts): found by call.
  CREATE INDEX outbox_by_call ON outbox (call_id);
  `,
  `
  -- Live calls by number: one call per vendor in flight (calls/dispatch.ts), and the flow request that names
  -- only the vendor's number (store/calls.ts, byExotelRequest).
  CREATE INDEX calls_live_by_phone ON calls (phone) WHERE settled_at IS NULL;
  `,
  `
  -- Calls given up on without learning whether they rang: the vendor is not called again while one may be on
  -- the line (calls/dispatch.ts).
  CREATE INDEX calls_unverified_by_phone ON calls (phone, settled_at) WHERE failure_reason = 'unverified';
  `,
  `
  -- Why a queued call waits, when it is the calling window (CALLING_WINDOW may change across a restart, and
  -- such calls then move to the new window's opening, jobs/scheduler.ts) or its vendor's other call (later
  -- orders wait behind it, store/calls.ts vendorInFlight).
  ALTER TABLE calls ADD COLUMN waits_for TEXT;
  `,
  `
  -- Recent dials the Calls list did not show: they may still ring, so the vendor is not called beside them
  -- (store/calls.ts, vendorInFlight).
  CREATE INDEX attempts_not_placed ON attempts (requested_at) WHERE result IN ('not_placed', 'adopted');
  `,
  `
  -- Outcomes the backend never got (delivery gave up), counted at every /metrics scrape (metrics.ts).
  CREATE INDEX outbox_dead ON outbox (dead_at) WHERE dead_at IS NOT NULL AND delivered_at IS NULL;
  `,
  `
  -- What we answered a request that took a turn: the engine's reply (prompt names) and its language, so the
  -- ops timeline shows what the vendor heard (routes/ops.ts, cli.ts).
  ALTER TABLE call_events ADD COLUMN said_json TEXT;
  `,
  `
  -- The backend withdrew the call while a dial of it was out (calls/withdraw.ts): it is never dialled again,
  -- a vendor who answers hears the apology, and it settles withdrawn when that dial ends.
  ALTER TABLE calls ADD COLUMN withdraw_requested_at TEXT;
  `,
  `
  -- When ops last sent an outcome again (outbox retry): its OUTCOME_MAX_AGE_HOURS counts from then, so a
  -- revived outcome is retried for a while, not killed by its first failure (jobs/outcome-delivery.ts).
  ALTER TABLE outbox ADD COLUMN retried_at TEXT;
  `,
];
