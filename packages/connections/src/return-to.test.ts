// Proves which returnTo URLs the hosted OAuth flow accepts: with OAUTH_RETURN_ORIGINS only
// those origins; without, https anywhere and http only on loopback; never credentials or other
// schemes.
import { describe, expect, it } from 'vitest';
import { returnToProblem } from './return-to.ts';

describe('returnToProblem without OAUTH_RETURN_ORIGINS', () => {
  it('accepts https anywhere and http on loopback', () => {
    for (const url of [
      'https://app.example.com/settings?tab=calendar',
      'https://app.example.com:8443/x',
      'http://localhost:5173/cb',
      'http://127.0.0.1:3000/',
      'http://[::1]:8080/cb',
    ]) {
      expect(returnToProblem(url, undefined), url).toBeNull();
    }
  });

  it('refuses http elsewhere, other schemes, credentials and non-URLs', () => {
    for (const url of [
      'http://app.example.com/settings',
      'http://localhost.evil.example/',
      'http://127.0.0.1.evil.example/',
      'javascript:alert(1)',
      'data:text/html,hi',
      'ftp://app.example.com/',
      'https://user:pass@app.example.com/',
      '//evil.example/',
      '/settings',
      'not a url',
    ]) {
      expect(returnToProblem(url, undefined), url).toEqual(expect.any(String));
    }
  });
});

describe('returnToProblem with OAUTH_RETURN_ORIGINS', () => {
  const allowed = ['https://app.example.com', 'http://staging.internal:8080'];

  it('accepts exactly the listed origins, whatever the path', () => {
    expect(returnToProblem('https://app.example.com/a/b?c=d#e', allowed)).toBeNull();
    expect(returnToProblem('http://staging.internal:8080/cb', allowed)).toBeNull();
  });

  it('refuses any other origin, port or scheme, https and loopback included', () => {
    for (const url of [
      'https://evil.example/',
      'https://app.example.com.evil.example/',
      'https://app.example.com:444/',
      'http://app.example.com/',
      'http://staging.internal/cb',
      'http://localhost:3000/',
    ]) {
      expect(returnToProblem(url, allowed), url).toMatch(/OAUTH_RETURN_ORIGINS/);
    }
  });
});
