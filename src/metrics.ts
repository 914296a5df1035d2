// Prometheus metrics (prom-client), on a registry of our own so every app instance counts for itself.
// What ops watch: calls by flow and outcome, Connect requests by result, Exotel API latency, our response
// latency by route, the dial queue, the outcome backlog and its age, outcomes given up on, reconcile lookups.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface MetricSources {
  queueDepth(): number;
  outboxBacklog(): { count: number; oldest: string | null };
  /** Outcomes the backend never got, delivery given up on (superseded ones left out). */
  outboxDead(): number;
  now(): Date;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly calls: Counter<'flow' | 'outcome'>;
  private readonly connects: Counter<'result'>;
  private readonly exotelLatency: Histogram<'operation' | 'result'>;
  private readonly responses: Histogram<'route' | 'method' | 'status'>;
  private readonly reconciles: Counter<'result'>;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'exotel_caller_' });
    this.calls = new Counter({ name: 'exotel_caller_calls_total', help: 'Calls settled, by flow and outcome', labelNames: ['flow', 'outcome'], registers });
    this.connects = new Counter({ name: 'exotel_caller_connect_requests_total', help: 'Calls/connect requests, by result', labelNames: ['result'], registers });
    this.exotelLatency = new Histogram({
      name: 'exotel_caller_exotel_api_seconds',
      help: "Exotel API latency, by operation and result",
      labelNames: ['operation', 'result'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.responses = new Histogram({
      name: 'exotel_caller_response_seconds',
      help: 'Our response latency, by route (webhook, ExoML, applet, API)',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.reconciles = new Counter({ name: 'exotel_caller_reconcile_lookups_total', help: 'Reconciling lookups (Call Details; the Calls list for a live call without a CallSid), by result', labelNames: ['result'], registers });
    new Gauge({ name: 'exotel_caller_queue_depth', help: 'Calls waiting to be dialled', registers, collect() { this.set(sources.queueDepth()); } });
    new Gauge({ name: 'exotel_caller_outbox_backlog', help: 'Outcomes waiting to be delivered to the backend (given up on: exotel_caller_outbox_dead)', registers, collect() { this.set(sources.outboxBacklog().count); } });
    // A backlog alert clears when delivery gives up: this one stays until ops send it again (outbox retry).
    new Gauge({ name: 'exotel_caller_outbox_dead', help: 'Outcomes the backend never got: delivery gave up (outbox retry sends one again)', registers, collect() { this.set(sources.outboxDead()); } });
    new Gauge({
      name: 'exotel_caller_outbox_oldest_age_seconds',
      help: 'Age of the oldest outcome waiting to be delivered',
      registers,
      collect() {
        const oldest = sources.outboxBacklog().oldest;
        this.set(oldest ? Math.max(0, (sources.now().getTime() - new Date(oldest).getTime()) / 1000) : 0);
      },
    });
  }

  callSettled(flow: string, outcome: string): void {
    this.calls.inc({ flow, outcome });
  }

  connectResult(result: string): void {
    this.connects.inc({ result });
  }

  exotelRequest(operation: string, result: string, seconds: number): void {
    this.exotelLatency.observe({ operation, result }, seconds);
  }

  response(route: string, method: string, status: number, seconds: number): void {
    this.responses.observe({ route, method, status: String(status) }, seconds);
  }

  reconcileLookup(result: string): void {
    this.reconciles.inc({ result });
  }
}
