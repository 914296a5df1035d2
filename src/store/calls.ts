// The named queries over calls, attempts and the event log. Nothing else writes SQL about calls.
import { randomBytes } from 'node:crypto';
import type { Db } from './database.js';
import type { FinalOutcome, FlowState, Language, Outcome, Reply } from '../flows/types.js';

export type Transport = 'exoml' | 'applet';

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
  exotelCallSid: string | null;
  durationSeconds: number | null;
  recordingUrl: string | null;
  failureCode: string | null;
  failureReason: string | null;
  createdAt: string;
  updatedAt: string;
  endedAt: string | null;
}

export interface AttemptRecord {
  number: number;
  exotelCallSid: string | null;
  result: 'sent' | 'placed' | 'failed' | 'unknown';
  errorCode: string | null;
  errorMessage: string | null;
  requestedAt: string;
  answeredAt: string | null;
}

export interface EventRecord {
  id: number;
  at: string;
  kind: string;
  route: string;
  step: string | null;
  digits: string | null;
  params: Record<string, string>;
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

/** What a status report changes on a call; undefined fields are left as stored. */
export interface StatusChange {
  status: string;
  final: boolean;
  durationSeconds?: number | undefined;
  recordingUrl?: string | undefined;
  endedAt?: string | undefined;
  exotelCallSid?: string | undefined;
}

type Row = Record<string, unknown>;

/** A fresh call reference: short, URL-safe, unguessable. */
export const newCallId = (): string => `call_${randomBytes(12).toString('base64url')}`;

export class CallStore {
  private readonly q;

  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.q = {
      insertCall: db.prepare(`INSERT INTO calls (id, flow, order_id, phone, language, context_json, state_json, transport,
        status, outcome, prep_time_minutes, created_at, updated_at)
        VALUES (@id, @flow, @orderId, @phone, @language, @context, @state, @transport, 'created', 'pending', NULL, @now, @now)`),
      byId: db.prepare('SELECT * FROM calls WHERE id = ?'),
      bySid: db.prepare('SELECT * FROM calls WHERE exotel_call_sid = ?'),
      byOrder: db.prepare('SELECT * FROM calls WHERE order_id = ? ORDER BY created_at, rowid'),
      nextAttempt: db.prepare('SELECT COALESCE(MAX(number), 0) + 1 AS n FROM attempts WHERE call_id = ?'),
      insertAttempt: db.prepare(`INSERT INTO attempts (call_id, number, result, requested_at) VALUES (?, ?, 'sent', ?)`),
      finishAttempt: db.prepare(`UPDATE attempts SET result = @result, exotel_call_sid = @sid, error_code = @code,
        error_message = @message, answered_at = @now WHERE call_id = @callId AND number = @number`),
      attempts: db.prepare('SELECT * FROM attempts WHERE call_id = ? ORDER BY number'),
      setDialing: db.prepare(`UPDATE calls SET status = 'dialing', updated_at = ? WHERE id = ?`),
      setPlaced: db.prepare(`UPDATE calls SET exotel_call_sid = COALESCE(exotel_call_sid, @sid),
        status = CASE WHEN status IN ('created', 'dialing', 'unknown') THEN @status ELSE status END, updated_at = @now WHERE id = @id`),
      setDialFailed: db.prepare(`UPDATE calls SET status = @status, failure_code = @code, failure_reason = @reason,
        outcome = CASE WHEN @status = 'failed' AND outcome = 'pending' THEN 'not_reached' ELSE outcome END,
        ended_at = CASE WHEN @status = 'failed' THEN @now ELSE ended_at END, updated_at = @now WHERE id = @id`),
      adoptSid: db.prepare(`UPDATE calls SET exotel_call_sid = @sid, updated_at = @now WHERE id = @id AND exotel_call_sid IS NULL
        AND NOT EXISTS (SELECT 1 FROM calls WHERE exotel_call_sid = @sid)`),
      saveTurn: db.prepare(`UPDATE calls SET state_json = @state, last_reply = @reply, outcome = @outcome,
        prep_time_minutes = @prep, asked_turn = COALESCE(@askedTurn, asked_turn), updated_at = @now WHERE id = @id`),
      markAsked: db.prepare('UPDATE calls SET asked_turn = @askedTurn, updated_at = @now WHERE id = @id'),
      insertEvent: db.prepare(`INSERT INTO call_events (call_id, at, kind, route, step, digits, params_json)
        VALUES (@callId, @at, @kind, @route, @step, @digits, @params)`),
      events: db.prepare('SELECT * FROM call_events WHERE call_id = ? ORDER BY id'),
      applyStatus: db.prepare(`UPDATE calls SET
          status = CASE WHEN status IN ('completed', 'busy', 'no-answer', 'failed', 'canceled') THEN status ELSE @status END,
          duration_seconds = COALESCE(@duration, duration_seconds),
          recording_url = COALESCE(@recording, recording_url),
          exotel_call_sid = COALESCE(exotel_call_sid, @sid),
          ended_at = CASE WHEN @final = 1 THEN COALESCE(ended_at, @endedAt, @now) ELSE ended_at END,
          outcome = CASE WHEN @final = 1 AND outcome = 'pending' THEN @settled ELSE outcome END,
          updated_at = @now
        WHERE id = @id`),
    };
  }

  create(call: NewCall & { id?: string }): CallRecord {
    const id = call.id ?? newCallId();
    this.q.insertCall.run({
      id,
      flow: call.flow,
      orderId: call.orderId,
      phone: call.phone,
      language: call.language,
      context: JSON.stringify(call.context),
      state: JSON.stringify(call.state),
      transport: call.transport,
      now: this.stamp(),
    });
    return this.get(id)!;
  }

  get(id: string): CallRecord | undefined {
    return toCall(this.q.byId.get(id) as Row | undefined);
  }

  byExotelSid(sid: string): CallRecord | undefined {
    return toCall(this.q.bySid.get(sid) as Row | undefined);
  }

  byOrder(orderId: string): CallRecord[] {
    return (this.q.byOrder.all(orderId) as Row[]).map((row) => toCall(row)!);
  }

  /** Writes the attempt row before the Connect request leaves, so a crash mid-request is visible. */
  beginAttempt(callId: string): number {
    return this.db.transaction(() => {
      const { n } = this.q.nextAttempt.get(callId) as { n: number };
      this.q.insertAttempt.run(callId, n, this.stamp());
      this.q.setDialing.run(this.stamp(), callId);
      return n;
    })();
  }

  attemptPlaced(callId: string, number: number, sid: string, exotelStatus: string): void {
    this.db.transaction(() => {
      const now = this.stamp();
      this.q.finishAttempt.run({ callId, number, result: 'placed', sid, code: null, message: null, now });
      this.q.setPlaced.run({ id: callId, sid, status: exotelStatus, now });
    })();
  }

  /** `unknown`: the request may have reached Exotel (a timeout after sending); `failed`: it surely did not place a call. */
  attemptFailed(callId: string, number: number, result: 'failed' | 'unknown', code: string, message: string): void {
    this.db.transaction(() => {
      const now = this.stamp();
      this.q.finishAttempt.run({ callId, number, result, sid: null, code, message, now });
      this.q.setDialFailed.run({ id: callId, status: result, code, reason: message, now });
    })();
  }

  attempts(callId: string): AttemptRecord[] {
    return (this.q.attempts.all(callId) as Row[]).map((row) => ({
      number: row.number as number,
      exotelCallSid: row.exotel_call_sid as string | null,
      result: row.result as AttemptRecord['result'],
      errorCode: row.error_code as string | null,
      errorMessage: row.error_message as string | null,
      requestedAt: row.requested_at as string,
      answeredAt: row.answered_at as string | null,
    }));
  }

  /** Appends to the event log; used alone for requests that change nothing (refused, unknown call, replays). */
  recordEvent(event: NewEvent): void {
    this.q.insertEvent.run({
      callId: event.callId,
      at: this.stamp(),
      kind: event.kind,
      route: event.route,
      step: event.step ?? null,
      digits: event.digits ?? null,
      params: JSON.stringify(event.params),
    });
  }

  /**
   * One step of a conversation, in one transaction: what Exotel sent, the new state, and what we answer.
   * `askedTurn`: the request fetched the question of that turn (applet mode), so one answer may follow.
   */
  saveTurn(event: NewEvent & { callId: string }, state: FlowState, reply: Reply, sid?: string, askedTurn?: number): void {
    this.db.transaction(() => {
      this.recordEvent(event);
      if (sid) this.q.adoptSid.run({ id: event.callId, sid, now: this.stamp() });
      const prep = state.values.prep_time_minutes;
      this.q.saveTurn.run({
        id: event.callId,
        state: JSON.stringify(state),
        reply: JSON.stringify(reply),
        outcome: state.outcome ?? 'pending',
        prep: prep === undefined ? null : prep,
        askedTurn: askedTurn ?? null,
        now: this.stamp(),
      });
    })();
  }

  /** A request that changes no state (a repeat, a late one): logged, and in applet mode it may re-ask. */
  recordReplay(event: NewEvent & { callId: string }, sid?: string, askedTurn?: number): void {
    this.db.transaction(() => {
      this.recordEvent(event);
      if (sid) this.q.adoptSid.run({ id: event.callId, sid, now: this.stamp() });
      if (askedTurn !== undefined) this.q.markAsked.run({ id: event.callId, askedTurn, now: this.stamp() });
    })();
  }

  /**
   * A status report (callback or Call Details), applied idempotently: a repeat changes nothing, a later
   * report without a recording never blanks a stored one, and a non-final report never undoes a final one.
   */
  applyStatus(event: NewEvent & { callId: string }, change: StatusChange, settled: FinalOutcome): CallRecord {
    return this.db.transaction(() => {
      this.recordEvent(event);
      this.q.applyStatus.run({
        id: event.callId,
        status: change.status,
        final: change.final ? 1 : 0,
        duration: change.durationSeconds ?? null,
        recording: change.recordingUrl ?? null,
        sid: change.exotelCallSid ?? null,
        endedAt: change.endedAt ?? null,
        settled,
        now: this.stamp(),
      });
      return this.get(event.callId)!;
    })();
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
    }));
  }

  private stamp(): string {
    return this.now().toISOString();
  }
}

function toCall(row: Row | undefined): CallRecord | undefined {
  if (!row) return undefined;
  return {
    id: row.id as string,
    flow: row.flow as string,
    orderId: row.order_id as string,
    phone: row.phone as string,
    language: row.language as Language,
    context: JSON.parse(row.context_json as string) as CallRecord['context'],
    state: JSON.parse(row.state_json as string) as FlowState,
    transport: row.transport as Transport,
    lastReply: row.last_reply === null ? null : (JSON.parse(row.last_reply as string) as Reply),
    askedTurn: row.asked_turn as number | null,
    status: row.status as string,
    outcome: row.outcome as Outcome,
    prepTimeMinutes: row.prep_time_minutes as number | null,
    exotelCallSid: row.exotel_call_sid as string | null,
    durationSeconds: row.duration_seconds as number | null,
    recordingUrl: row.recording_url as string | null,
    failureCode: row.failure_code as string | null,
    failureReason: row.failure_reason as string | null,
    createdAt: row.created_at as string,
    updatedAt: row.updated_at as string,
    endedAt: row.ended_at as string | null,
  };
}
