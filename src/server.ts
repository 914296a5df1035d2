// The process: read the environment once, open the database, start the built-in Exotel simulator when no
// credentials are set, listen, and shut down cleanly on SIGTERM (systemd) or SIGINT (a terminal).
import 'dotenv/config';
import Fastify from 'fastify';
import { pino } from 'pino';
import app, { serverOptions } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { ExotelClient } from './exotel/client.js';
import { loggerOptions } from './logging.js';
import { startSimulator, type ExotelSimulator } from './simulator/exotel-simulator.js';
import { openDatabase } from './store/database.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = pino(loggerOptions(config.logLevel));
  const db = openDatabase(config.databasePath);

  let simulator: ExotelSimulator | undefined;
  if (config.exotel.mode === 'simulator') {
    simulator = await startSimulator({ account: config.exotel, ringDelayMs: 300, logger });
    config = { ...config, exotel: { ...config.exotel, apiBaseUrl: simulator.url } };
    logger.info({ simulator: simulator.url }, 'No Exotel credentials: calls go to the built-in simulator');
  }
  const exotel = new ExotelClient(config.exotel);
  const server = Fastify({ loggerInstance: logger, ...serverOptions(config) });
  await server.register(app, { config, db, exotel });
  if (simulator && config.appletPathToken) {
    // The simulated dashboard holds the README's recipe, so EXOTEL_FLOW_MODE=applet|voicebot works out of the box.
    const token = config.appletPathToken;
    simulator.installReadmeFlow(config.exotel.appId, config.exotel.flowMode, (applet) => server.links.applet(applet, token));
  }
  await server.listen({ port: config.port, host: config.host });
  logger.info(
    { mode: config.exotel.mode, flow_mode: config.exotel.flowMode, database: config.databasePath, public_base_url: config.publicBaseUrl },
    'Exotel caller ready',
  );
  if (config.exotel.mode === 'live' && config.exotel.flowMode === 'exoml') {
    // The user's design, kept; but Exotel documents that Calls/connect runs only dashboard flows, and a call
    // whose Url was a server of one's own was seen to fail unheard (reference §1.5, §13; README "Applet mode").
    logger.warn(
      { flow_mode: 'exoml' },
      'EXOTEL_FLOW_MODE=exoml on a live account: if calls end failed and no "ExoML greeting requested" line follows "Call initiated", Exotel is not running our URL; use EXOTEL_FLOW_MODE=applet (README, "Applet mode")',
    );
  }

  // METRICS_PORT: /metrics without a token, for a scraper on this host only.
  const metricsServer = config.metrics.port ? Fastify({ logger: false }) : undefined;
  if (metricsServer) {
    metricsServer.get('/metrics', async (_request, reply) =>
      reply.header('content-type', server.metrics.registry.contentType).send(await server.metrics.registry.metrics()),
    );
    await metricsServer.listen({ port: config.metrics.port!, host: config.metrics.host });
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    let code = 0;
    // Once the drain is over Fastify stops listening, and Node stops timing out slow requests: a socket that
    // never finishes one (a preconnect, a client gone mid-body) would hold close() until systemd's SIGKILL.
    // Requests in flight get 5 s more, then every connection is closed.
    const reaper = setInterval(() => {
      if (server.server.listening) return;
      clearInterval(reaper);
      setTimeout(() => server.server.closeAllConnections(), 5_000).unref();
    }, 200).unref();
    // And whatever else hangs, the process ends, and says so, before TimeoutStopSec (90 s) kills it.
    setTimeout(() => {
      logger.error('shutting down: not stopped in time; exiting');
      process.exit(1);
    }, (config.jobs.shutdownDrainSeconds + 25) * 1000).unref();
    try {
      await server.close();
    } catch (error) {
      // Still close everything else (the database last): what was committed is safe, nothing is left half-done.
      logger.error({ err: error }, 'shutting down: the server did not close cleanly');
      code = 1;
    }
    await metricsServer?.close();
    await simulator?.close();
    await exotel.close();
    db.close();
    logger.info('stopped');
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`exotel-caller failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
