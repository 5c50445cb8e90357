// Proves signature verification follows CALENDLY.md: the shared vectors pass over raw bytes,
// the negative controls fail, the header parser tolerates what Calendly may send, and the
// freshness window holds exactly at its edges in both directions.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  computeSignature,
  parseSignatureHeader,
  signatureHeader,
  verifySignature,
} from './signature.ts';

const fixtures = new URL('../../../test/fixtures/signatures/', import.meta.url);
const body1 = readFileSync(new URL('body1.json', fixtures));
const body2 = readFileSync(new URL('body2.json', fixtures));

const vectors = [
  {
    key: 'test_signing_key',
    t: 1_700_000_000,
    body: body1,
    digest: '6646f00700a42a318b1865538d89d546811c944419d5e750a616a7546b5ff85f',
  },
  {
    key: '5mEzn9C-I28UtwOjZJtFoob0sAAFZ95GbZkqj4y3i0I',
    t: 1_719_921_600,
    body: body2,
    digest: 'b67ea29791bcb2f6b58af60e0fb3b569eb27074a83eefae9f6bd0813e5e14d8b',
  },
];

const verifyAt = (v: (typeof vectors)[number], header: string, rawBody: Uint8Array = v.body) =>
  verifySignature({ header, rawBody, keys: [v.key], toleranceSeconds: 180, now: v.t * 1000 });

describe('shared vectors', () => {
  it.each(vectors)('computes $digest', (v) => {
    expect(computeSignature(v.key, v.t, v.body).toString('hex')).toBe(v.digest);
    expect(verifyAt(v, `t=${v.t},v1=${v.digest}`)).toEqual({
      ok: true,
      timestamp: v.t,
      keyIndex: 0,
    });
  });

  it('keeps body2 byte-exact, trailing newline and UTF-8 included', () => {
    expect(body2.at(-1)).toBe(0x0a);
    expect(body2.toString('utf8')).toContain('Zoë Ünïcode');
  });

  it.each(vectors)('refuses the digest over the body alone', (v) => {
    const bodyOnly = createHmac('sha256', v.key).update(v.body).digest('hex');
    expect(verifyAt(v, `t=${v.t},v1=${bodyOnly}`)).toEqual({
      ok: false,
      reason: 'no_matching_key',
    });
  });

  it.each(vectors)('refuses a re-serialised body', (v) => {
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(v.body.toString('utf8'))));
    expect(reserialised.equals(v.body)).toBe(v === vectors[0]);
    if (v === vectors[0]) return; // body1 is already canonical JSON; body2 is the real control
    expect(verifyAt(v, `t=${v.t},v1=${v.digest}`, reserialised)).toEqual({
      ok: false,
      reason: 'no_matching_key',
    });
  });

  it.each(vectors)('refuses the digest in base64', (v) => {
    const b64 = Buffer.from(v.digest, 'hex').toString('base64');
    expect(verifyAt(v, `t=${v.t},v1=${b64}`)).toEqual({ ok: false, reason: 'malformed_header' });
  });

  it('refuses a key decoded from base64 instead of used as text', () => {
    const v = vectors[1]!;
    const decodedKey = Buffer.from(v.key, 'base64url');
    const digest = createHmac('sha256', decodedKey).update(`${v.t}.`).update(v.body).digest('hex');
    expect(verifyAt(v, `t=${v.t},v1=${digest}`).ok).toBe(false);
  });
});

describe('header parsing', () => {
  const digest = 'a'.repeat(64);
  it('tolerates spaces and unknown keys', () => {
    expect(parseSignatureHeader(` t = 12 ,  foo=bar, v1=${digest} , v0=zz`)).toEqual({
      timestamp: 12,
      digests: [Buffer.from(digest, 'hex')],
    });
  });
  it('keeps several v1 and skips non-hex ones', () => {
    const parsed = parseSignatureHeader(`t=1,v1=${'b'.repeat(64)},v1=nothex,v1=${digest}`);
    expect(parsed?.digests.map((d) => d.toString('hex'))).toEqual(['b'.repeat(64), digest]);
  });
  it.each([
    ['no t', `v1=${digest}`],
    ['t not a number', `t=abc,v1=${digest}`],
    ['negative t', `t=-5,v1=${digest}`],
    ['two t', `t=1,t=2,v1=${digest}`],
    ['no v1', 't=1'],
    ['only non-hex v1', `t=1,v1=${'g'.repeat(64)}`],
    ['short v1', `t=1,v1=${'a'.repeat(63)}`],
    ['garbage', 'hello'],
  ])('rejects %s', (_label, header) => {
    expect(parseSignatureHeader(header)).toBeNull();
  });
  it('accepts when any v1 matches', () => {
    const v = vectors[0]!;
    expect(verifyAt(v, `t=${v.t},v1=${'0'.repeat(64)},v1=${v.digest}`).ok).toBe(true);
  });
  it('reports a missing or blank header', () => {
    const v = vectors[0]!;
    expect(
      verifySignature({
        header: undefined,
        rawBody: v.body,
        keys: [v.key],
        toleranceSeconds: 180,
        now: 0,
      }),
    ).toEqual({ ok: false, reason: 'missing_header' });
    expect(verifyAt(v, '  ')).toEqual({ ok: false, reason: 'missing_header' });
  });
});

describe('tolerance', () => {
  const key = 'k';
  const body = Buffer.from('{"a":1}');
  const t = 1_800_000_000;
  const at = (nowSeconds: number, ms = 0) =>
    verifySignature({
      header: signatureHeader(key, t, body),
      rawBody: body,
      keys: [key],
      toleranceSeconds: 180,
      now: nowSeconds * 1000 + ms,
    });
  it('accepts exactly at the edges, both ways', () => {
    expect(at(t + 180, 999).ok).toBe(true);
    expect(at(t - 180).ok).toBe(true);
  });
  it('refuses one second past each edge', () => {
    expect(at(t + 181)).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(at(t - 181)).toEqual({ ok: false, reason: 'future_timestamp' });
  });
});

describe('keys', () => {
  const body = Buffer.from('{"event":"invitee.created"}');
  it('accepts any of the hook key, the app key and a replaced key, naming which signed', () => {
    for (const [index, signer] of ['hook', 'app', 'old'].entries()) {
      const header = signatureHeader(signer, 100, body);
      expect(
        verifySignature({
          header,
          rawBody: body,
          keys: ['hook', 'app', 'old'],
          toleranceSeconds: 180,
          now: 100_000,
        }),
      ).toEqual({ ok: true, timestamp: 100, keyIndex: index });
    }
  });
  it('refuses a key that is not listed, and an empty key list', () => {
    const header = signatureHeader('other', 100, body);
    expect(
      verifySignature({
        header,
        rawBody: body,
        keys: ['hook', 'app'],
        toleranceSeconds: 180,
        now: 100_000,
      }),
    ).toEqual({ ok: false, reason: 'no_matching_key' });
    expect(
      verifySignature({ header, rawBody: body, keys: [], toleranceSeconds: 180, now: 100_000 }),
    ).toEqual({ ok: false, reason: 'no_matching_key' });
  });
});
