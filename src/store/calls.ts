// The named queries over calls, their attempts and the event log. Nothing else writes SQL about calls.
// Methods that change several rows run in one transaction; `transaction` lets src/calls compose them.
import { randomBytes } from 'node:crypto';
import type { Db } from './database.js';
import type { FlowState, Language, Outcome, Reply } from '../flows/types.js';
import { AMBIGUOUS_CONNECT_ERRORS } from '../errors.js';
import { FINAL_STATUSES } from '../exotel/inbound.js';
import { normalisePhone } from '../phone.js';
import { GroupCommit } from './group-commit.js';

export type Transport = 'exoml' | 'applet' | 'voicebot';

export interface CallRecord {
  id: string;
  flow: string;
  orderId: string;
  phone: string;
  language: Language;
  context: Record<string, string | number>;
  state: FlowState;
  transport: Transport;
  lastReply: Reply | null;
  askedTurn: number | null;
  status: string;
  outcome: Outcome;
  prepTimeMinutes: number | null;
  agentStatus: string | null;
  exotelCallSid: string | null;
  currentAttempt: number | null;
  durationSeconds: number | null;
  recordingUrl: string | null;
  failureCode: string | null;
  failureReason: string | null;
  failureMessage: string | null;
  dispatchDueAt: string | null;
  dispatchRetries: number;
  /** Calls-list lookups of the current ambiguous Connect that Exotel could not answer. */
  verifyTries: number;
  redials: number;
  reconcileDueAt: string | null;
  reconcileTries: number;
  /** What a queued call waits for, when it is the calling window or its vendor's other call. */
  waitsFor: string | null;
  createdAt: string;
  updatedAt: string;
  endedAt: string | null;
  settledAt: string | null;
  /** The backend withdrew the call while a dial of it was out: it ends withdrawn, never dialled again. */
  withdrawRequestedAt: string | null;
}

export type AttemptResult = 'sent' | 'placed' | 'adopted' | 'not_placed' | 'unknown' | 'failed';

export interface AttemptRecord {
  number: number;
  exotelCallSid: string | null;
  result: AttemptResult;
  status: string | null;
  durationSeconds: number | null;
  recordingUrl: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  requestedAt: string;
  answeredAt: string | null;
  endedAt: string | null;
}

export interface EventRecord {
  id: number;
  at: string;
  kind: string;
  route: string;
  step: string | null;
  digits: string | null;
  params: Record<string, string>;
  /** What we answered, for a request that took a turn (older rows, and requests that changed nothing: null). */
  said: Said | null;
}

/** The engine's answer to one request, in the language it was spoken in. */
export interface Said {
  language: Language;
  reply: Reply;
}

export type NewCall = Pick<CallRecord, 'flow' | 'orderId' | 'phone' | 'language' | 'context' | 'state' | 'transport'>;

export interface NewEvent {
  callId: string | null;
  kind: string;
  route: string;
  step?: string | undefined;
  digits?: string | undefined;
  params: Record<string, string>;
}

/** What a status report says about one attempt's call; undefined fields are left as stored. */
export interface AttemptStatus {
  status: string;
  final: boolean;
  durationSeconds?: number | undefined;
  recordingUrl?: string | undefined;
  endedAt?: string | undefined;
}

type Row = Record<string, unknown>;

/** A fresh call reference: short, URL-safe, unguessable. */
export const newCallId = (): string => `call_${randomBytes(12).toString('base64url')}`;

const FINAL_SQL = FINAL_STATUSES.map((s) => `'${s}'`).join(', ');
// The Connect errors after which the call may exist: such an attempt was only guessed not placed.
const AMBIGUOUS_SQL = AMBIGUOUS_CONNECT_ERRORS.map((code) => `'${code}'`).join(', ');
// Being dialled or on the line (never a call waiting in the queue, refused, or ended).
const ON_THE_LINE = (calls: string) => `${calls}.settled_at IS NULL AND ${calls}.status NOT IN ('queued', 'failed', ${FINAL_SQL})`;
// Queued to be dialled again because Exotel's Calls list did not show its ambiguous attempt: the list may
// lag, so that attempt's call may still ring (`a`: the call's current attempt).
const UNLISTED = (c: string, a: string) =>
  `${c}.settled_at IS NULL AND ${c}.status = 'queued' AND ${a}.result = 'not_placed' AND ${a}.error_code IN (${AMBIGUOUS_SQL})`;
// A dial counted not placed only because the Calls list did not show it (after an ambiguous Connect) within
// the last ring timeout + time limit (@since), with no final status: it may still ring; or such a dial proven
// placed after all (adopted) that has no final status yet. Unless a later dial of the same call completed:
// the vendor has taken that call, their line is not held by the first.
const MAY_RING = (a: string) =>
  `(${a}.result IN ('not_placed', 'adopted') AND ${a}.error_code IN (${AMBIGUOUS_SQL}) AND ${a}.requested_at > @since
    AND (${a}.status IS NULL OR ${a}.status NOT IN (${FINAL_SQL}))
    AND NOT EXISTS (SELECT 1 FROM attempts later WHERE later.call_id = ${a}.call_id AND later.number > ${a}.number AND later.status = 'completed'))`;
// Queued behind another call to its vendor: a later order for that vendor waits behind it, so the vendor
// hears their orders in the order they came.
const WAITS_FOR_VENDOR = (c: string) => `(${c}.settled_at IS NULL AND ${c}.status = 'queued' AND ${c}.waits_for = 'vendor_busy')`;
// A live call that waits on a lookup or a dial: proven placed by a CallSid, it waits no longer.
const WAITING = "settled_at IS NULL AND status IN ('verifying', 'queued')";

export class CallStore {
  private readonly q;
  /** Reads a call row: rows come as arrays (better-sqlite3's raw mode makes no object per row). */
  private readonly toCall: (row: unknown[] | undefined) => CallRecord | undefined;
  /** One per database: every write of an Exotel request joins it (group-commit.ts). */
  readonly group: GroupCommit;

  constructor(
    private readonly db: Db,
    readonly now: () => Date = () => new Date(),
    /** How soon a call whose CallSid we adopted is looked up, if no final status comes first. */
    private readonly reconcileAfterMs = 300_000,
  ) {
    this.group = GroupCommit.of(db);
    this.q = GroupCommit.of(db).guarded({
      insertCall: db.prepare(`INSERT INTO calls (id, flow, order_id, phone, language, context_json, state_json, transport,
        status, dispatch_due_at, created_at, updated_at)
        VALUES (@id, @flow, @orderId, @phone, @language, @context, @state, @transport, 'queued', @dueAt, @now, @now)`),
      byId: db.prepare('SELECT * FROM calls WHERE id = ?').raw(true),
      bySid: db.prepare('SELECT c.* FROM calls c JOIN attempts a ON a.call_id = c.id WHERE a.exotel_call_sid = ?').raw(true),
      // Calls of ours to this number that may be on the line: being dialled or talking, or counted as not
      // placed after an ambiguous Connect (Exotel's list may lag); with the current attempt's CallSid last.
      mayBeOnTheLine: db.prepare(`SELECT c.*, a.exotel_call_sid FROM calls c LEFT JOIN attempts a ON a.call_id = c.id AND a.number = c.current_attempt
        WHERE c.phone = ? AND (${ON_THE_LINE('c')} OR (${UNLISTED('c', 'a')})) LIMIT 2`).raw(true),
      byOrder: db.prepare('SELECT * FROM calls WHERE order_id = ? ORDER BY created_at, rowid').raw(true),
      byPhoneEnding: db.prepare("SELECT * FROM calls WHERE phone LIKE '%' || ? ORDER BY created_at DESC, rowid DESC LIMIT ?").raw(true),
      recent: db.prepare('SELECT * FROM calls ORDER BY created_at DESC, rowid DESC LIMIT ?').raw(true),
      createdSince: db.prepare(`SELECT * FROM calls WHERE created_at >= @since AND (@outcome IS NULL OR outcome = @outcome)
        ORDER BY created_at DESC, rowid DESC LIMIT @limit`).raw(true),
      liveForOrder: db.prepare('SELECT * FROM calls WHERE order_id = ? AND flow = ? AND settled_at IS NULL').raw(true),
      lastForOrder: db.prepare('SELECT * FROM calls WHERE order_id = ? AND flow = ? ORDER BY created_at DESC, rowid DESC LIMIT 1').raw(true),
      keyLookup: db.prepare('SELECT call_id FROM idempotency_keys WHERE key = ? AND created_at > ?'),
      keySave: db.prepare('INSERT OR REPLACE INTO idempotency_keys (key, call_id, created_at) VALUES (?, ?, ?)'),
      keyPrune: db.prepare('DELETE FROM idempotency_keys WHERE created_at <= ?'),

      dueForDispatch: db.prepare(`SELECT * FROM calls WHERE dispatch_due_at IS NOT NULL AND dispatch_due_at <= ?
        ORDER BY dispatch_due_at, rowid LIMIT ?`).raw(true),
      dueForVerify: db.prepare(`SELECT * FROM calls WHERE dispatch_due_at IS NOT NULL AND dispatch_due_at <= ? AND status = 'verifying'
        ORDER BY dispatch_due_at, rowid LIMIT ?`).raw(true),
      nextDispatchDue: db.prepare('SELECT MIN(dispatch_due_at) AS due FROM calls WHERE dispatch_due_at IS NOT NULL'),
      // Another call of ours to the same number is being dialled or is on the line, or may be: a dial of the
      // last ring timeout + time limit counted not placed only because the Calls list did not show it (it may
      // lag), whatever its call did since (dialled again, redialled, given up), until a final status says it
      // ended; or a call given up on lately without learning whether it rang (verify.ts), likewise. Or an
      // older order's call waits for the vendor already. Among calls with such a dial, the older goes first; a
      // call with one waits for no call that only waits; among those, the older goes first. So two calls
      // never wait on each other.
      vendorInFlight: db.prepare(`WITH self AS (
            SELECT x.rowid AS rid, EXISTS (SELECT 1 FROM attempts xa WHERE xa.call_id = x.id AND ${MAY_RING('xa')}) AS unlisted
            FROM calls x WHERE x.id = @id)
        SELECT 1 FROM self, calls c WHERE c.phone = @phone AND c.id != @id
          AND (${ON_THE_LINE('c')} OR (${WAITS_FOR_VENDOR('c')} AND NOT self.unlisted AND c.rowid < self.rid))
        UNION ALL SELECT 1 FROM self, attempts a JOIN calls c ON c.id = a.call_id
          WHERE ${MAY_RING('a')} AND c.phone = @phone AND NOT (self.unlisted AND c.rowid > self.rid)
          -- The call's own earlier dial too, once proven placed: it is not dialled again beside it.
          AND (c.id != @id OR (a.result = 'adopted' AND a.number != c.current_attempt))
        UNION ALL SELECT 1 FROM calls c WHERE c.phone = @phone AND c.id != @id AND c.failure_reason = 'unverified' AND c.settled_at > @since
          AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.call_id = c.id AND a.number = c.current_attempt AND a.status IN (${FINAL_SQL}))
        LIMIT 1`),
      // Dials to the number before this attempt (since @from) that placed a call whose CallSid we never
      // learned: Exotel reported on them (with CallSid None, §13), or a lookup gave up on learning whether they
      // did. One the Calls list did not show counts as placing nothing, as verify.ts took it.
      unnamedDialsBefore: db.prepare(`SELECT a.requested_at FROM attempts self, attempts a JOIN calls c ON c.id = a.call_id
        WHERE self.call_id = @callId AND self.number = @number AND c.phone = @phone
          AND a.exotel_call_sid IS NULL AND a.requested_at >= @from
          AND (a.requested_at < self.requested_at OR (a.call_id = self.call_id AND a.number < self.number))
          AND NOT (a.call_id = self.call_id AND a.number >= self.number)
          AND (a.status IS NOT NULL OR a.result IN ('sent', 'unknown'))
        ORDER BY a.requested_at DESC LIMIT 100`).pluck(),
      setAgentStatus: db.prepare('UPDATE calls SET agent_status = @status, updated_at = @now WHERE id = @id'),
      languageOf: db.prepare('SELECT language FROM phone_languages WHERE phone = ?'),
      setLanguage: db.prepare('INSERT OR REPLACE INTO phone_languages (phone, language, updated_at) VALUES (?, ?, ?)'),
      queueDepth: db.prepare('SELECT COUNT(*) AS n FROM calls WHERE dispatch_due_at IS NOT NULL'),
      // On the line, or ended with a question open and waiting for its late keys (calls/status.ts: the only
      // unsettled call with a final status and a settling lookup due).
      // Or a dial the Calls list did not show, which may still ring (MAY_RING, as the vendor hold counts it).
      onTheLine: db.prepare(`SELECT (SELECT COUNT(*) FROM calls c JOIN attempts a ON a.call_id = c.id AND a.number = c.current_attempt
          WHERE a.requested_at > @since AND (${ON_THE_LINE('c')}
            OR (c.settled_at IS NULL AND c.status IN (${FINAL_SQL}) AND c.reconcile_due_at IS NOT NULL)))
        + (SELECT COUNT(*) FROM attempts a WHERE ${MAY_RING('a')}) AS n`),
      claim: db.prepare(`UPDATE calls SET status = 'dialing', dispatch_due_at = NULL, updated_at = @now
        WHERE id = @id AND status = 'queued' AND dispatch_due_at IS NOT NULL AND settled_at IS NULL`),
      // A lease, not NULL: if the process dies during the lookup, the call is due again when it lapses.
      claimVerify: db.prepare(`UPDATE calls SET dispatch_due_at = @lease, updated_at = @now
        WHERE id = @id AND status = 'verifying' AND dispatch_due_at IS NOT NULL AND settled_at IS NULL`),
      nextAttempt: db.prepare('SELECT COALESCE(MAX(number), 0) + 1 AS n FROM attempts WHERE call_id = ?'),
      insertAttempt: db.prepare(`INSERT INTO attempts (call_id, number, result, requested_at) VALUES (?, ?, 'sent', ?)`),
      setCurrentAttempt: db.prepare('UPDATE calls SET current_attempt = ?, exotel_call_sid = NULL WHERE id = ?'),
      // A CallSid that reached us first on a callback or a flow request proves the attempt placed a call.
      finishAttempt: db.prepare(`UPDATE attempts SET
          result = CASE WHEN exotel_call_sid IS NOT NULL AND @result IN ('unknown', 'not_placed') THEN 'placed' ELSE @result END,
          exotel_call_sid = COALESCE(@sid, exotel_call_sid),
          -- An adopted attempt keeps what its Connect request met (a timeout, a 5xx) and when.
          error_code = CASE WHEN @result = 'adopted' THEN error_code ELSE @code END,
          error_message = CASE WHEN @result = 'adopted' THEN error_message ELSE @message END,
          answered_at = CASE WHEN @result = 'adopted' THEN COALESCE(answered_at, @now) ELSE @now END
        WHERE call_id = @callId AND number = @number`),
      lateAnswer: db.prepare('UPDATE attempts SET error_code = @code, error_message = @message WHERE call_id = @callId AND number = @number'),
      attempts: db.prepare('SELECT * FROM attempts WHERE call_id = ? ORDER BY number'),
      attemptBySid: db.prepare('SELECT call_id, number FROM attempts WHERE exotel_call_sid = ?'),
      attemptStatusOf: db.prepare('SELECT status FROM attempts WHERE call_id = ? AND number = ?'),
      // Only the current attempt: an earlier one still 'sent' (its answer lost, a redial since) says nothing
      // about the Connect now in flight, and must not turn that call to verifying.
      unansweredAttempts: db.prepare(`SELECT a.call_id, a.number, a.requested_at FROM attempts a JOIN calls c ON c.id = a.call_id
        WHERE a.result = 'sent' AND a.number = c.current_attempt AND c.status = 'dialing' AND a.requested_at <= ?`),
      // Each update after a Connect answer acts only if the call still waits on that answer: a status callback
      // can arrive before the Connect answer does, and must not be undone by it.
      placed: db.prepare(`UPDATE calls SET
          exotel_call_sid = CASE WHEN status = 'queued' THEN exotel_call_sid ELSE COALESCE(exotel_call_sid, @sid) END,
          status = CASE WHEN status IN ('dialing', 'verifying') THEN @status ELSE status END,
          dispatch_retries = CASE WHEN status IN ('dialing', 'verifying') THEN 0 ELSE dispatch_retries END,
          reconcile_due_at = CASE WHEN status IN ('dialing', 'verifying') THEN @reconcileAt ELSE reconcile_due_at END,
          dispatch_due_at = CASE WHEN status IN ('dialing', 'verifying') THEN NULL ELSE dispatch_due_at END,
          reconcile_tries = CASE WHEN status IN ('dialing', 'verifying') THEN 0 ELSE reconcile_tries END,
          failure_code = NULL, failure_reason = NULL, failure_message = NULL, updated_at = @now
        WHERE id = @id AND current_attempt = @number AND settled_at IS NULL`),
      // A dial that placed nothing: dialled again after a backoff, keeping its place in its vendor's line.
      requeue: db.prepare(`UPDATE calls SET status = 'queued', dispatch_due_at = @dueAt, dispatch_retries = dispatch_retries + @retry,
          waits_for = CASE WHEN waits_for = 'vendor_busy' THEN waits_for END,
          failure_code = @code, failure_reason = 'retrying', failure_message = @message, updated_at = @now
        WHERE id = @id AND status IN ('dialing', 'verifying') AND exotel_call_sid IS NULL AND settled_at IS NULL`),
      verifying: db.prepare(`UPDATE calls SET status = 'verifying', dispatch_due_at = @dueAt, verify_tries = 0, failure_code = @code,
          failure_reason = 'verifying', failure_message = @message, updated_at = @now
        WHERE id = @id AND status = 'dialing' AND exotel_call_sid IS NULL AND settled_at IS NULL`),
      failCall: db.prepare(`UPDATE calls SET status = 'failed', failure_code = @code, failure_reason = @reason, failure_message = @message,
        dispatch_due_at = NULL, reconcile_due_at = NULL, ended_at = COALESCE(ended_at, @now), updated_at = @now
        WHERE id = @id AND settled_at IS NULL`),
      reschedule: db.prepare(`UPDATE calls SET dispatch_due_at = @dueAt, updated_at = @now,
          waits_for = CASE WHEN @waitsFor = 'unchanged' THEN waits_for ELSE @waitsFor END
        WHERE id = @id AND status IN ('queued', 'verifying') AND settled_at IS NULL`),
      // A redial still keeps its delay after the busy signal (scheduled at updated_at): never sooner than that.
      reopenWindow: db.prepare(`UPDATE calls SET updated_at = @now, dispatch_due_at = CASE WHEN redials > 0
          THEN MAX(@opens, strftime('%Y-%m-%dT%H:%M:%fZ', updated_at, @redialDelay)) ELSE @opens END
        WHERE waits_for = 'calling_window' AND status = 'queued' AND settled_at IS NULL AND dispatch_due_at > @opens`),
      windowSeen: db.prepare("SELECT value FROM service_state WHERE key = 'calling_window'").pluck(),
      windowSave: db.prepare("INSERT OR REPLACE INTO service_state (key, value) VALUES ('calling_window', ?)"),
      verifyTry: db.prepare(`UPDATE calls SET verify_tries = verify_tries + 1, dispatch_due_at = @dueAt, updated_at = @now
        WHERE id = @id AND status = 'verifying' AND settled_at IS NULL`),
      requestWithdraw: db.prepare('UPDATE calls SET withdraw_requested_at = @now, updated_at = @now WHERE id = @id AND settled_at IS NULL AND withdraw_requested_at IS NULL'),
      setFailure: db.prepare(`UPDATE calls SET failure_code = @code, failure_reason = @reason, failure_message = @message,
        updated_at = @now WHERE id = @id`),
      // An attempt counted as not placed (Exotel's list did not show it yet) placed a call after all.
      adoptSid: db.prepare(`UPDATE attempts SET exotel_call_sid = @sid, result = CASE WHEN result = 'not_placed' THEN 'adopted' ELSE result END
        WHERE call_id = @id AND number = @number
        AND exotel_call_sid IS NULL AND NOT EXISTS (SELECT 1 FROM attempts WHERE exotel_call_sid = @sid)`),
      // A CallSid that reached us on Exotel's own request proves the current attempt placed a call: a call
      // being verified stops being verified, one queued to be dialled again is not dialled (the vendor is on
      // the line), and a lookup is due in case no final status ever comes. A call queued for a redial after
      // its attempt's final status (busy, no-answer) stays queued.
      adoptCallSid: db.prepare(`UPDATE calls SET exotel_call_sid = COALESCE(exotel_call_sid, @sid),
          dispatch_due_at = CASE WHEN ${WAITING} THEN NULL ELSE dispatch_due_at END,
          failure_code = CASE WHEN ${WAITING} THEN NULL ELSE failure_code END,
          failure_reason = CASE WHEN ${WAITING} THEN NULL ELSE failure_reason END,
          failure_message = CASE WHEN ${WAITING} THEN NULL ELSE failure_message END,
          status = CASE WHEN ${WAITING} THEN 'in-progress' ELSE status END,
          reconcile_due_at = CASE WHEN settled_at IS NULL AND reconcile_due_at IS NULL THEN @reconcileAt ELSE reconcile_due_at END
        WHERE id = @id
        AND EXISTS (SELECT 1 FROM attempts a WHERE a.call_id = @id AND a.number = calls.current_attempt AND a.exotel_call_sid = @sid
          AND (calls.status != 'queued' OR (a.result = 'adopted' AND (a.status IS NULL OR a.status NOT IN (${FINAL_SQL})))))`),
      saveTurn: db.prepare(`UPDATE calls SET state_json = @state, last_reply = @reply, outcome = @outcome,
        prep_time_minutes = @prep, asked_turn = COALESCE(@askedTurn, asked_turn), updated_at = @now WHERE id = @id AND settled_at IS NULL`),
      markAsked: db.prepare('UPDATE calls SET asked_turn = @askedTurn, updated_at = @now WHERE id = @id'),
      resetConversation: db.prepare(`UPDATE calls SET state_json = @state, last_reply = NULL, asked_turn = NULL,
        outcome = 'pending', prep_time_minutes = NULL, updated_at = @now WHERE id = @id`),
      insertEvent: db.prepare(`INSERT INTO call_events (call_id, at, kind, route, step, digits, params_json, said_json)
        VALUES (@callId, @at, @kind, @route, @step, @digits, @params, @said)`),
      events: db.prepare('SELECT * FROM call_events WHERE call_id = ? ORDER BY id'),

      // A report about an attempt proves it placed a call, whatever its Connect request was answered.
      attemptStatus: db.prepare(`UPDATE attempts SET
          result = CASE WHEN result IN ('sent', 'unknown') THEN 'adopted' ELSE result END,
          status = CASE WHEN status IN (${FINAL_SQL}) THEN status ELSE @status END,
          duration_seconds = COALESCE(@duration, duration_seconds),
          recording_url = COALESCE(@recording, recording_url),
          ended_at = CASE WHEN @final = 1 THEN COALESCE(ended_at, @endedAt, @now) ELSE ended_at END
        WHERE call_id = @id AND number = @number`),
      // The call row follows its current attempt. A call waiting for a redial (queued) keeps its status; one
      // being verified stops being verified; a live call gets a reconcile due time if it had none.
      callStatus: db.prepare(`UPDATE calls SET
          status = CASE WHEN status IN (${FINAL_SQL}) OR status = 'queued' THEN status ELSE @status END,
          dispatch_due_at = CASE WHEN status = 'verifying' THEN NULL ELSE dispatch_due_at END,
          duration_seconds = COALESCE(@duration, duration_seconds),
          recording_url = COALESCE(@recording, recording_url),
          ended_at = CASE WHEN @final = 1 THEN COALESCE(ended_at, @endedAt, @now) ELSE ended_at END,
          reconcile_due_at = CASE WHEN @final = 1 THEN NULL
                                  WHEN reconcile_due_at IS NULL AND status IN ('dialing', 'verifying') THEN @reconcileAt
                                  ELSE reconcile_due_at END,
          -- A report of the call proves its unclear Connect placed it: that is no failure of the call's.
          failure_code = CASE WHEN failure_reason = 'verifying' THEN NULL ELSE failure_code END,
          failure_message = CASE WHEN failure_reason = 'verifying' THEN NULL ELSE failure_message END,
          failure_reason = CASE WHEN failure_reason = 'verifying' THEN NULL ELSE failure_reason END,
          updated_at = @now
        WHERE id = @id AND current_attempt = @number`),
      callFill: db.prepare(`UPDATE calls SET duration_seconds = COALESCE(@duration, duration_seconds),
        recording_url = COALESCE(@recording, recording_url), updated_at = @now WHERE id = @id AND current_attempt = @number`),
      redial: db.prepare(`UPDATE calls SET status = 'queued', dispatch_due_at = @dueAt, waits_for = @waitsFor, redials = redials + 1,
        exotel_call_sid = NULL, duration_seconds = NULL, recording_url = NULL,
        reconcile_due_at = NULL, ended_at = NULL, updated_at = @now WHERE id = @id`),
      settle: db.prepare(`UPDATE calls SET outcome = @outcome, settled_at = @now, dispatch_due_at = NULL,
        reconcile_due_at = NULL, updated_at = @now WHERE id = @id AND settled_at IS NULL`),

      // Due for a reconcile step, one query per kind, so no kind's backlog takes the rows another needs (jobs/scheduler.ts).
      dueGrace: db.prepare(`SELECT * FROM calls WHERE reconcile_due_at IS NOT NULL AND reconcile_due_at <= ?
        AND settled_at IS NULL AND status IN (${FINAL_SQL}) ORDER BY reconcile_due_at, rowid LIMIT ?`).raw(true),
      dueLive: db.prepare(`SELECT * FROM calls WHERE reconcile_due_at IS NOT NULL AND reconcile_due_at <= ?
        AND settled_at IS NULL AND status NOT IN (${FINAL_SQL}) ORDER BY reconcile_due_at, rowid LIMIT ?`).raw(true),
      dueFill: db.prepare(`SELECT * FROM calls WHERE reconcile_due_at IS NOT NULL AND reconcile_due_at <= ?
        AND settled_at IS NOT NULL ORDER BY reconcile_due_at, rowid LIMIT ?`).raw(true),
      scheduleReconcile: db.prepare(`UPDATE calls SET reconcile_due_at = @dueAt, reconcile_tries = @tries, updated_at = @now WHERE id = @id`),
    });
    this.toCall = callReader(this.q.byId.columns().map((column) => column.name));
  }

  transaction<T>(work: () => T): T {
    return this.group.transaction(work);
  }

  /** Exotel-facing requests: `work` joins the group commit; resolves once it is on disk (group-commit.ts). */
  grouped<T>(work: () => T): Promise<T> {
    return this.group.run(work);
  }

  create(call: NewCall, dueAt: Date, idempotencyKey?: string): CallRecord {
    const id = newCallId();
    this.transaction(() => {
      this.q.insertCall.run({
        id,
        flow: call.flow,
        orderId: call.orderId,
        phone: call.phone,
        language: call.language,
        context: JSON.stringify(call.context),
        state: JSON.stringify(call.state),
        transport: call.transport,
        dueAt: dueAt.toISOString(),
        now: this.stamp(),
      });
      if (idempotencyKey !== undefined) this.q.keySave.run(idempotencyKey, id, this.stamp());
    });
    return this.get(id)!;
  }

  /** The call a request with this Idempotency-Key was answered with: a retry of it gets the same call. */
  rememberIdempotencyKey(key: string, callId: string): void {
    this.q.keySave.run(key, callId, this.stamp());
  }

  get(id: string): CallRecord | undefined {
    return this.toCall(this.q.byId.get(id) as unknown[] | undefined);
  }

  /**
   * The call an Exotel request is about: by its CallSid, else by our call id (CustomField, or a stream's
   * call_id) before the Connect answer that carries the CallSid is stored; else, for a request that names
   * neither (a Gather carries no CustomField, reference §5.2), by the vendor's number (`caller`, see
   * `callerOf`): the one call of ours to it that may be on the line, when no CallSid of it is stored yet.
   * One call of ours per number is in flight at a time (calls/dispatch.ts), so that call is this one.
   */
  byExotelRequest(callSid: string | undefined, callId: string | undefined, caller?: string): CallRecord | undefined {
    const known = (callSid ? this.byExotelSid(callSid) : undefined) ?? (callId ? this.get(callId) : undefined);
    if (known || caller === undefined) return known;
    const phone = normalisePhone(caller);
    const rows = phone ? (this.q.mayBeOnTheLine.all(phone) as unknown[][]) : [];
    // Only one, and no CallSid of it stored yet: with another call on the line, or a CallSid of its own, the
    // request is not certainly this call's.
    return rows.length === 1 && rows[0]!.at(-1) === null ? this.toCall(rows[0]) : undefined;
  }

  /** The call any of whose attempts has this CallSid. */
  byExotelSid(sid: string): CallRecord | undefined {
    return this.toCall(this.q.bySid.get(sid) as unknown[] | undefined);
  }

  attemptNumberOf(sid: string): number | undefined {
    return (this.q.attemptBySid.get(sid) as { number: number } | undefined)?.number;
  }

  byOrder(orderId: string): CallRecord[] {
    return (this.q.byOrder.all(orderId) as unknown[][]).map((row) => this.toCall(row)!);
  }

  /** Calls to numbers ending in these digits, newest first (ops search). */
  byPhoneEnding(digits: string, limit: number): CallRecord[] {
    return (this.q.byPhoneEnding.all(digits, limit) as unknown[][]).map((row) => this.toCall(row)!);
  }

  recent(limit: number): CallRecord[] {
    return (this.q.recent.all(limit) as unknown[][]).map((row) => this.toCall(row)!);
  }

  /** Calls created at or after `since`, newest first, with that outcome if one is given. */
  createdSince(since: Date, outcome: string | undefined, limit: number): CallRecord[] {
    return (this.q.createdSince.all({ since: since.toISOString(), outcome: outcome ?? null, limit }) as unknown[][]).map((row) => this.toCall(row)!);
  }

  liveForOrder(orderId: string, flow: string): CallRecord | undefined {
    return this.toCall(this.q.liveForOrder.get(orderId, flow) as unknown[] | undefined);
  }

  lastForOrder(orderId: string, flow: string): CallRecord | undefined {
    return this.toCall(this.q.lastForOrder.get(orderId, flow) as unknown[] | undefined);
  }

  /** The call an Idempotency-Key named within the last `maxAgeMs`. */
  byIdempotencyKey(key: string, maxAgeMs: number): CallRecord | undefined {
    const since = new Date(this.now().getTime() - maxAgeMs).toISOString();
    const row = this.q.keyLookup.get(key, since) as { call_id: string } | undefined;
    return row ? this.get(row.call_id) : undefined;
  }

  pruneIdempotencyKeys(maxAgeMs: number): void {
    this.q.keyPrune.run(new Date(this.now().getTime() - maxAgeMs).toISOString());
  }

  // ---- dispatch -------------------------------------------------------------------------------------

  dueForDispatch(limit: number): CallRecord[] {
    return (this.q.dueForDispatch.all(this.stamp(), limit) as unknown[][]).map((row) => this.toCall(row)!);
  }

  /** Only the due lookups after an ambiguous Connect (while nothing may be dialled: a deploy's drain). */
  dueForVerify(limit: number): CallRecord[] {
    return (this.q.dueForVerify.all(this.stamp(), limit) as unknown[][]).map((row) => this.toCall(row)!);
  }

  nextDispatchDue(): string | null {
    return (this.q.nextDispatchDue.get() as { due: string | null }).due;
  }

  /**
   * True while another call of ours to this number is being dialled or is on the line, or may be (a dial
   * since `mayRingSince` that the Calls list did not show, a call given up on as unverified since then), or
   * an older one waits for the vendor already (see the query for who goes first).
   */
  vendorInFlight(phone: string, exceptCallId: string, mayRingSince: Date): boolean {
    return this.q.vendorInFlight.get({ phone, id: exceptCallId, since: mayRingSince.toISOString() }) !== undefined;
  }

  /**
   * When we made each of our dials to this number before `attempt` (since `from`, newest first) that placed a
   * call, or may have, whose CallSid we never learned: the Calls list shows each under a sid we do not know.
   */
  unnamedDialsBefore(phone: string, from: Date, attempt: { callId: string; number: number }): Date[] {
    return (this.q.unnamedDialsBefore.all({ phone, from: from.toISOString(), ...attempt }) as string[]).map((at) => new Date(at));
  }

  /** After a transfer: how the agent leg ended. */
  setAgentStatus(callId: string, status: string): void {
    this.q.setAgentStatus.run({ id: callId, status, now: this.stamp() });
  }

  /** The language this number last chose or was called in, if any. */
  preferredLanguage(phone: string): Language | undefined {
    return (this.q.languageOf.get(phone) as { language: Language } | undefined)?.language;
  }

  setPreferredLanguage(phone: string, language: Language): void {
    this.q.setLanguage.run(phone, language, this.stamp());
  }

  queueDepth(): number {
    return (this.q.queueDepth.get() as { n: number }).n;
  }

  /**
   * Calls being dialled, looked up or on the line, or waiting for their late keys, whose current dial left
   * after `since` (older ones have ended); and dials since then that the Calls list did not show.
   */
  onTheLine(since: Date): number {
    return (this.q.onTheLine.get({ since: since.toISOString() }) as { n: number }).n;
  }

  /**
   * Takes a queued call for dialing and writes its attempt row, in one transaction, before the Connect
   * request leaves: a call is claimed once, so it is never dialled twice for one attempt.
   */
  claimForDial(callId: string, onClaim: () => void): number | undefined {
    return this.transaction(() => {
      if (this.q.claim.run({ id: callId, now: this.stamp() }).changes !== 1) return undefined;
      const { n } = this.q.nextAttempt.get(callId) as { n: number };
      this.q.insertAttempt.run(callId, n, this.stamp());
      this.q.setCurrentAttempt.run(n, callId);
      onClaim();
      return n;
    });
  }

  claimForVerify(callId: string): boolean {
    const lease = new Date(this.now().getTime() + 60_000).toISOString();
    return this.q.claimVerify.run({ id: callId, now: this.stamp(), lease }).changes === 1;
  }

  /** Connect requests sent at or before `sentBy` whose answer was never stored, on calls still dialing. */
  unansweredAttempts(sentBy: Date): Array<{ callId: string; number: number; requestedAt: string }> {
    return (this.q.unansweredAttempts.all(sentBy.toISOString()) as Array<{ call_id: string; number: number; requested_at: string }>).map((r) => ({
      callId: r.call_id,
      number: r.number,
      requestedAt: r.requested_at,
    }));
  }

  attemptPlaced(callId: string, number: number, sid: string, exotelStatus: string, reconcileAt: Date, result: 'placed' | 'adopted' = 'placed'): void {
    this.transaction(() => {
      const now = this.stamp();
      this.q.finishAttempt.run({ callId, number, result, sid, code: null, message: null, now });
      this.q.placed.run({ id: callId, number, sid, status: exotelStatus, reconcileAt: reconcileAt.toISOString(), now });
    });
  }

  /** No Exotel call came of the attempt (refused, 5xx, 429, or verified absent): dial again at `dueAt`. */
  attemptNotPlaced(callId: string, number: number, code: string, message: string, dueAt: Date, countsAsRetry = true): void {
    this.transaction(() => {
      const now = this.stamp();
      this.q.finishAttempt.run({ callId, number, result: 'not_placed', sid: null, code, message, now });
      this.q.requeue.run({ id: callId, dueAt: dueAt.toISOString(), retry: countsAsRetry ? 1 : 0, code, message, now });
    });
  }

  /** The attempt may have placed a call (a timeout after sending): ask Exotel at `dueAt` before anything else. */
  attemptUnknown(callId: string, number: number, code: string, message: string, dueAt: Date): void {
    this.transaction(() => {
      const now = this.stamp();
      this.q.finishAttempt.run({ callId, number, result: 'unknown', sid: null, code, message, now });
      this.q.verifying.run({ id: callId, dueAt: dueAt.toISOString(), code, message, now });
    });
  }

  /** What an earlier attempt's Connect met, once the call is on a later attempt: that attempt's row only. */
  attemptAnswerLate(callId: string, number: number, code: string, message: string): void {
    this.q.lateAnswer.run({ callId, number, code, message });
  }

  /** Exotel refused the attempt for good (or it placed nothing and no retry is left). The caller settles the call in the same transaction. */
  attemptFailed(callId: string, number: number, code: string, message: string, reason: string, result: 'failed' | 'not_placed' = 'failed'): void {
    const now = this.stamp();
    this.q.finishAttempt.run({ callId, number, result, sid: null, code, message, now });
    this.q.failCall.run({ id: callId, code, reason, message, now });
  }

  /** A Calls-list lookup that Exotel did not answer: counted, and tried again at `dueAt`. */
  countVerifyTry(callId: string, dueAt: Date): void {
    this.q.verifyTry.run({ id: callId, dueAt: dueAt.toISOString(), now: this.stamp() });
  }

  /** The call ends as failed, for `reason`. The caller settles it in the same transaction. */
  failCall(callId: string, code: string, reason: string, message: string): void {
    this.q.failCall.run({ id: callId, code, reason, message, now: this.stamp() });
  }

  /** Why the call did not go as it should, for read-back and ops; the call's status is left as it is. */
  /** Marks the call withdrawn by the backend while a dial of it is out; false if it was marked (or settled) before. */
  requestWithdraw(callId: string): boolean {
    return this.q.requestWithdraw.run({ id: callId, now: this.stamp() }).changes === 1;
  }

  setFailure(callId: string, code: string, reason: string, message: string | null): void {
    this.q.setFailure.run({ id: callId, code, reason, message, now: this.stamp() });
  }

  /**
   * A queued or verifying call waits until `dueAt`: `waitsFor` says when it is for the calling hours or the
   * vendor; 'unchanged' keeps what it waited for before (a rate-limit pause does not cost a call its place).
   */
  reschedule(callId: string, dueAt: Date, waitsFor: 'calling_window' | 'vendor_busy' | 'unchanged' | null = null): void {
    this.q.reschedule.run({ id: callId, dueAt: dueAt.toISOString(), waitsFor, now: this.stamp() });
  }

  /**
   * When the calling window (`window`, as text) differs from the one the service last ran with, calls waiting
   * for it are due when it `opens`: a redial not before its delay. How many moved; 0 when it is the same.
   */
  reopenWindow(window: string, opens: Date, redialDelaySeconds: number): number {
    return this.transaction(() => {
      const seen = this.q.windowSeen.get() as string | undefined;
      this.q.windowSave.run(window);
      if (seen === window) return 0;
      return this.q.reopenWindow.run({ opens: opens.toISOString(), redialDelay: `+${redialDelaySeconds} seconds`, now: this.stamp() }).changes;
    });
  }

  attempts(callId: string): AttemptRecord[] {
    return (this.q.attempts.all(callId) as Row[]).map((row) => ({
      number: row.number as number,
      exotelCallSid: row.exotel_call_sid as string | null,
      result: row.result as AttemptResult,
      status: row.status as string | null,
      durationSeconds: row.duration_seconds as number | null,
      recordingUrl: row.recording_url as string | null,
      errorCode: row.error_code as string | null,
      errorMessage: row.error_message as string | null,
      requestedAt: row.requested_at as string,
      answeredAt: row.answered_at as string | null,
      endedAt: row.ended_at as string | null,
    }));
  }

  // ---- conversation ---------------------------------------------------------------------------------

  /** Appends to the event log; used alone for requests that change nothing (refused, unknown call). */
  recordEvent(event: NewEvent, said: string | null = null): void {
    this.q.insertEvent.run({
      callId: event.callId,
      at: this.stamp(),
      kind: event.kind,
      route: event.route,
      step: event.step ?? null,
      digits: event.digits ?? null,
      params: JSON.stringify(event.params),
      said,
    });
  }

  /**
   * One step of a conversation, in one transaction: what Exotel sent, the new state, and what we answer.
   * `askedTurn`: the request fetched the question of that turn (applet mode), so one answer may follow.
   */
  saveTurn(event: NewEvent & { callId: string }, state: FlowState, reply: Reply, sid?: string, askedTurn?: number): void {
    const replyJson = JSON.stringify(reply);
    this.transaction(() => {
      // The reply's JSON once, for the call row and its event (Said).
      this.recordEvent(event, `{"language":${JSON.stringify(state.language)},"reply":${replyJson}}`);
      if (sid) this.adopt(event.callId, sid);
      const prep = state.values.prep_time_minutes;
      this.q.saveTurn.run({
        id: event.callId,
        state: JSON.stringify(state),
        reply: replyJson,
        outcome: state.outcome ?? 'pending',
        prep: prep === undefined ? null : prep,
        askedTurn: askedTurn ?? null,
        now: this.stamp(),
      });
    });
  }

  /** A request that changes no state (a repeat, a late one): logged, and in applet mode it may re-ask. */
  recordReplay(event: NewEvent & { callId: string }, sid?: string, askedTurn?: number): void {
    this.transaction(() => {
      this.recordEvent(event);
      if (sid) this.adopt(event.callId, sid);
      if (askedTurn !== undefined) this.q.markAsked.run({ id: event.callId, askedTurn, now: this.stamp() });
    });
  }

  /** Exotel's CallSid reached us (a flow request, a callback) before the Connect answer was stored: keep it. */
  adopt(callId: string, sid: string, attempt?: number): void {
    const number = attempt ?? this.get(callId)?.currentAttempt;
    if (!number) return;
    this.q.adoptSid.run({ id: callId, number, sid });
    this.q.adoptCallSid.run({ id: callId, sid, reconcileAt: new Date(this.now().getTime() + this.reconcileAfterMs).toISOString() });
  }

  events(callId: string): EventRecord[] {
    return (this.q.events.all(callId) as Row[]).map((row) => ({
      id: row.id as number,
      at: row.at as string,
      kind: row.kind as string,
      route: row.route as string,
      step: row.step as string | null,
      digits: row.digits as string | null,
      params: JSON.parse(row.params_json as string) as Record<string, string>,
      said: row.said_json ? (JSON.parse(row.said_json as string) as Said) : null,
    }));
  }

  // ---- status, redial, settlement --------------------------------------------------------------------

  /**
   * A status report for one attempt, applied idempotently: a repeat changes nothing, a report without a
   * recording never blanks a stored one, a non-final status never undoes a final one. It reaches the call
   * row only when the attempt is the call's current one (a late report for an earlier dial does not).
   */
  applyAttemptStatus(callId: string, number: number, change: AttemptStatus, touchCall: boolean, reconcileAt: Date): void {
    const params = {
      reconcileAt: reconcileAt.toISOString(),
      id: callId,
      number,
      status: change.status,
      final: change.final ? 1 : 0,
      duration: change.durationSeconds ?? null,
      recording: change.recordingUrl ?? null,
      endedAt: change.endedAt ?? null,
      now: this.stamp(),
    };
    this.q.attemptStatus.run(params);
    if (touchCall) this.q.callStatus.run(params);
    else this.q.callFill.run({ id: callId, number, duration: params.duration, recording: params.recording, now: params.now });
  }

  /** The status an attempt has on record (null before any report). */
  attemptStatusOf(callId: string, number: number): string | null {
    return ((this.q.attemptStatusOf.get(callId, number) as { status: string | null } | undefined)?.status) ?? null;
  }

  /** A new dial of the same call after busy / no-answer / failed: the conversation starts over. */
  scheduleRedial(callId: string, dueAt: Date, freshState: FlowState, waitsFor: 'calling_window' | null = null): void {
    this.q.redial.run({ id: callId, dueAt: dueAt.toISOString(), waitsFor, now: this.stamp() });
    this.q.resetConversation.run({ id: callId, state: JSON.stringify(freshState), now: this.stamp() });
  }

  /** Marks the call settled with its final outcome; false if it already was. */
  markSettled(callId: string, outcome: string): boolean {
    return this.q.settle.run({ id: callId, outcome, now: this.stamp() }).changes === 1;
  }

  /**
   * Calls due for a reconcile step: `grace`, ended with a question open and their late keys' grace over (settled
   * without asking Exotel); `live`, with no final status yet (Call Details); `fill`, settled without a duration.
   */
  dueForReconcile(kind: 'grace' | 'live' | 'fill', limit: number): CallRecord[] {
    const query = kind === 'grace' ? this.q.dueGrace : kind === 'live' ? this.q.dueLive : this.q.dueFill;
    return (query.all(this.stamp(), limit) as unknown[][]).map((row) => this.toCall(row)!);
  }

  scheduleReconcile(callId: string, dueAt: Date | null, tries: number): void {
    this.q.scheduleReconcile.run({ id: callId, dueAt: dueAt?.toISOString() ?? null, tries, now: this.stamp() });
  }

  private stamp(): string {
    return this.now().toISOString();
  }
}

/** A call row (as an array, in the order of these columns) as a CallRecord. */
function callReader(columns: string[]): (row: unknown[] | undefined) => CallRecord | undefined {
  const at = (name: string): number => {
    const index = columns.indexOf(name);
    if (index < 0) throw new Error(`calls has no column ${name}`);
    return index;
  };
  const c = {
    agent_status: at('agent_status'),
    asked_turn: at('asked_turn'),
    context_json: at('context_json'),
    created_at: at('created_at'),
    current_attempt: at('current_attempt'),
    dispatch_due_at: at('dispatch_due_at'),
    dispatch_retries: at('dispatch_retries'),
    verify_tries: at('verify_tries'),
    duration_seconds: at('duration_seconds'),
    ended_at: at('ended_at'),
    exotel_call_sid: at('exotel_call_sid'),
    failure_code: at('failure_code'),
    failure_message: at('failure_message'),
    failure_reason: at('failure_reason'),
    flow: at('flow'),
    id: at('id'),
    language: at('language'),
    last_reply: at('last_reply'),
    order_id: at('order_id'),
    outcome: at('outcome'),
    phone: at('phone'),
    prep_time_minutes: at('prep_time_minutes'),
    reconcile_due_at: at('reconcile_due_at'),
    reconcile_tries: at('reconcile_tries'),
    waits_for: at('waits_for'),
    recording_url: at('recording_url'),
    redials: at('redials'),
    settled_at: at('settled_at'),
    state_json: at('state_json'),
    status: at('status'),
    transport: at('transport'),
    updated_at: at('updated_at'),
    withdraw_requested_at: at('withdraw_requested_at'),
  };
  return (row) => {
    if (!row) return undefined;
    return {
      id: row[c.id] as string,
      flow: row[c.flow] as string,
      orderId: row[c.order_id] as string,
      phone: row[c.phone] as string,
      language: row[c.language] as Language,
      context: JSON.parse(row[c.context_json] as string) as CallRecord['context'],
      state: JSON.parse(row[c.state_json] as string) as FlowState,
      transport: row[c.transport] as Transport,
      lastReply: row[c.last_reply] === null ? null : storedReply(row[c.last_reply] as string),
      askedTurn: row[c.asked_turn] as number | null,
      status: row[c.status] as string,
      outcome: row[c.outcome] as Outcome,
      prepTimeMinutes: row[c.prep_time_minutes] as number | null,
      agentStatus: row[c.agent_status] as string | null,
      exotelCallSid: row[c.exotel_call_sid] as string | null,
      currentAttempt: row[c.current_attempt] as number | null,
      durationSeconds: row[c.duration_seconds] as number | null,
      recordingUrl: row[c.recording_url] as string | null,
      failureCode: row[c.failure_code] as string | null,
      failureReason: row[c.failure_reason] as string | null,
      failureMessage: row[c.failure_message] as string | null,
      dispatchDueAt: row[c.dispatch_due_at] as string | null,
      dispatchRetries: row[c.dispatch_retries] as number,
      verifyTries: row[c.verify_tries] as number,
      redials: row[c.redials] as number,
      reconcileDueAt: row[c.reconcile_due_at] as string | null,
      reconcileTries: row[c.reconcile_tries] as number,
      waitsFor: row[c.waits_for] as string | null,
      createdAt: row[c.created_at] as string,
      updatedAt: row[c.updated_at] as string,
      endedAt: row[c.ended_at] as string | null,
      settledAt: row[c.settled_at] as string | null,
      withdrawRequestedAt: row[c.withdraw_requested_at] as string | null,
    };
  };
}

/** A stored reply. Rows written before the menus' language offer keep `question` as one prompt name. */
function storedReply(json: string): Reply {
  const reply = JSON.parse(json) as Reply;
  if (reply.kind === 'ask' && typeof reply.question === 'string') return { ...reply, question: [reply.question] };
  return reply;
}
