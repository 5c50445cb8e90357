// Proves OAUTH_RETURN_ORIGINS is read as a list of normalised origins, stays undefined when
// unset, and that anything more than an origin stops the process naming the key.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

const valid = {
  API_TOKEN: 'a-long-enough-api-token',
  ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
};

describe('OAUTH_RETURN_ORIGINS', () => {
  it('is undefined when unset', () => {
    expect(loadConfig(valid).oauthReturnOrigins).toBeUndefined();
  });

  it('reads comma-separated origins, normalised', () => {
    const config = loadConfig({
      ...valid,
      OAUTH_RETURN_ORIGINS: ' https://App.Example.com/ ,http://localhost:5173,',
    });
    expect(config.oauthReturnOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
  });

  it('refuses paths, queries, credentials, other schemes and an empty list', () => {
    for (const value of [
      'https://app.example.com/settings',
      'https://app.example.com?x=1',
      'https://user:pw@app.example.com',
      'javascript:alert(1)',
      'app.example.com',
      ' , ',
    ]) {
      let error: unknown;
      try {
        loadConfig({ ...valid, OAUTH_RETURN_ORIGINS: value });
      } catch (caught) {
        error = caught;
      }
      expect(error, value).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.map((p) => p.key)).toEqual(['OAUTH_RETURN_ORIGINS']);
    }
  });
});
