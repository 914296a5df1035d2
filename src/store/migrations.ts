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
    status            TEXT NOT NULL,                 -- created | dialing | unknown | failed | Exotel's call status
    outcome           TEXT NOT NULL DEFAULT 'pending',
    prep_time_minutes INTEGER,
    exotel_call_sid   TEXT UNIQUE,
    duration_seconds  INTEGER,
    recording_url     TEXT,
    failure_code      TEXT,
    failure_reason    TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    ended_at          TEXT
  );
  CREATE INDEX calls_by_order ON calls (order_id, created_at);

  -- One row per Calls/connect request we made, and what Exotel answered.
  CREATE TABLE attempts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id        TEXT NOT NULL REFERENCES calls (id),
    number         INTEGER NOT NULL,
    exotel_call_sid TEXT,
    result         TEXT NOT NULL,                    -- sent | placed | failed | unknown
    error_code     TEXT,
    error_message  TEXT,
    requested_at   TEXT NOT NULL,
    answered_at    TEXT,
    UNIQUE (call_id, number)
  );

  -- Append-only: every request Exotel made to us and every answer we took from it.
  CREATE TABLE call_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id     TEXT REFERENCES calls (id),
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,                       -- exoml_request | status_callback | ...
    route       TEXT NOT NULL,
    step        TEXT,
    digits      TEXT,
    params_json TEXT NOT NULL
  );
  CREATE INDEX call_events_by_call ON call_events (call_id, id);
  `,
];
