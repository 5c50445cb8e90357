// Proves secrets are stripped from anything this client logs, at any depth and in query strings.
import { describe, expect, it } from 'vitest';
import { redact, redactPath } from './redact.ts';

describe('redact', () => {
  it('replaces values of secret keys in any spelling, at any depth', () => {
    const input = {
      access_token: 'a',
      refreshToken: 'r',
      token: 't',
      code: 'c',
      client_secret: 's',
      'signing-key': 'k',
      code_verifier: 'v',
      Authorization: 'Bearer x',
      password: 'p',
      list: [{ token: 'deep' }, 'plain'],
      nested: { inner: { refresh_token: 'rr', keep: 'ok' } },
      uri: 'https://api.calendly.com/users/U1',
    };
    expect(redact(input)).toEqual({
      access_token: '[redacted]',
      refreshToken: '[redacted]',
      token: '[redacted]',
      code: '[redacted]',
      client_secret: '[redacted]',
      'signing-key': '[redacted]',
      code_verifier: '[redacted]',
      Authorization: '[redacted]',
      password: '[redacted]',
      list: [{ token: '[redacted]' }, 'plain'],
      nested: { inner: { refresh_token: '[redacted]', keep: 'ok' } },
      uri: 'https://api.calendly.com/users/U1',
    });
  });

  it('leaves the input untouched and survives cycles', () => {
    const input: Record<string, unknown> = { token: 'secret' };
    input.self = input;
    const output = redact(input) as Record<string, unknown>;
    expect(input.token).toBe('secret');
    expect(output.token).toBe('[redacted]');
    expect(output.self).toBe('[circular]');
  });

  it('scrubs bearer credentials inside free text', () => {
    expect(redact('sent Bearer abc.def-123 upstream')).toBe('sent Bearer [redacted] upstream');
  });

  it('passes scalars through', () => {
    expect(redact(3)).toBe(3);
    expect(redact(null)).toBe(null);
    expect(redact(undefined)).toBe(undefined);
  });
});

describe('redactPath', () => {
  it('redacts secret query values and keeps the rest', () => {
    expect(redactPath('/cb?code=abc&state=s1&access_token=t')).toBe(
      '/cb?code=[redacted]&state=s1&access_token=[redacted]',
    );
    expect(redactPath('/webhook_subscriptions?organization=o&scope=user')).toBe(
      '/webhook_subscriptions?organization=o&scope=user',
    );
    expect(redactPath('/users/me')).toBe('/users/me');
  });
});
