// Proves the process guard forgives only lost database connections: postgres.js's own codes
// and Postgres's connection-exception and shutdown SQLSTATEs, never an ordinary query error.
import { describe, expect, it } from 'vitest';
import { isLostConnection } from './shutdown.ts';

describe('isLostConnection', () => {
  it.each([
    'CONNECTION_CLOSED',
    'CONNECTION_DESTROYED',
    'CONNECTION_ENDED',
    'ECONNRESET',
    'EPIPE',
    '57P01',
    '57P02',
    '57P03',
    '08006',
    '08003',
  ])('forgives %s', (code) => expect(isLostConnection(code)).toBe(true));
  it.each(['23505', '40001', '57014', 'ECONNREFUSED', '08', 'CONNECT_TIMEOUT', ''])(
    'does not forgive %s',
    (code) => expect(isLostConnection(code)).toBe(false),
  );
});
