// Proves deliveries are signed exactly as Standard Webhooks says: the specification's published
// example vector, and headers the `standardwebhooks` package (what an app verifies with) accepts,
// with either secret during a rotation; and new secrets are `whsec_` + base64 of 24+ bytes.
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { newSecret, signatureHeader, webhookHeaders } from './signature.ts';

describe('Standard Webhooks signatures', () => {
  it('match the specification example', () => {
    const header = signatureHeader(
      { id: 'msg_p5jXN8AQM9LWM0D4loKWxJek', timestamp: 1614265330, body: '{"test": 2432232314}' },
      ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    );
    expect(header).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('verify with the standardwebhooks package, for each secret of a rotation', () => {
    const [oldSecret, newer, stranger] = [newSecret(), newSecret(), newSecret()];
    const body = JSON.stringify({ id: 'chg_1', type: 'meeting.created', data: { name: 'é' } });
    const headers = webhookHeaders(
      { id: 'chg_1', timestamp: Math.floor(Date.now() / 1000), body },
      [newer, oldSecret],
    );
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect(new Webhook(newer).verify(body, headers)).toMatchObject({ id: 'chg_1' });
    expect(new Webhook(oldSecret).verify(body, headers)).toMatchObject({ id: 'chg_1' });
    expect(() => new Webhook(stranger).verify(body, headers)).toThrow();
    expect(() => new Webhook(newer).verify(`${body} `, headers)).toThrow();
  });

  it('makes secrets of whsec_ and 24 or more random bytes', () => {
    const secret = newSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
    expect(newSecret()).not.toBe(secret);
  });
});
