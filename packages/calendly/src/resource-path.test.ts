// Proves resource URIs are reduced to their path and always sent to the configured API base.
import { describe, expect, it } from 'vitest';
import { resourcePath, targetFor, withQuery } from './resource-path.ts';

describe('resourcePath', () => {
  it('keeps path and query of an absolute URI and drops its host', () => {
    expect(
      resourcePath('https://api.calendly.com/scheduled_events/AAAA1234bbbb/invitees?count=2'),
    ).toBe('/scheduled_events/AAAA1234bbbb/invitees?count=2');
    expect(resourcePath('https://evil.example:8443/webhook_subscriptions/x')).toBe(
      '/webhook_subscriptions/x',
    );
  });

  it('accepts opaque, non-UUID ids and plain paths', () => {
    expect(resourcePath('https://api.calendly.com/users/ABCDEF0123456789')).toBe(
      '/users/ABCDEF0123456789',
    );
    expect(resourcePath('/users/me')).toBe('/users/me');
  });
});

describe('targetFor', () => {
  it('always uses the configured origin, even for host-like paths', () => {
    expect(targetFor('http://127.0.0.1:4000', '//evil.example/x')).toEqual({
      origin: 'http://127.0.0.1:4000',
      path: '//evil.example/x',
    });
  });

  it('keeps a base path prefix', () => {
    expect(targetFor('http://sim.local/calendly/', '/users/me')).toEqual({
      origin: 'http://sim.local',
      path: '/calendly/users/me',
    });
  });
});

describe('withQuery', () => {
  it('skips undefined values and appends to an existing query', () => {
    expect(withQuery('/a', { x: 1, y: undefined, z: 'b c' })).toBe('/a?x=1&z=b+c');
    expect(withQuery('/a?x=1', { y: 2 })).toBe('/a?x=1&y=2');
    expect(withQuery('/a', {})).toBe('/a');
  });
});
