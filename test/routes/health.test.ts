// GET /health: healthy only when the database answers.
import { describe, expect, it } from 'vitest';
import { startHarness } from '../helpers/harness.js';

describe('GET /health', () => {
  it('is healthy with the package version, without a token; 503 with the reason when the database is gone', async () => {
    const h = await startHarness({ API_TOKEN: 'health-test-token-0123456789abcdefgh' });
    try {
      expect(await h.get('/health')).toEqual({ status: 200, body: { status: 'healthy', service: 'Exotel Voice Caller', version: '1.0.0', exotel: 'simulator' } });
      h.db.close();
      expect(await h.get('/health')).toEqual({
        status: 503,
        body: { status: 'unhealthy', service: 'Exotel Voice Caller', version: '1.0.0', exotel: 'simulator', reason: 'database: The database connection is not open' },
      });
    } finally {
      await h.close();
    }
  });
});
