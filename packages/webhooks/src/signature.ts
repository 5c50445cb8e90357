import { createHmac, timingSafeEqual } from 'node:crypto';

/** Why a delivery's signature was refused; each maps to a 401 reason and a metric label. */
export type SignatureFailure =
  | 'missing_header'
  | 'malformed_header'
  | 'stale_timestamp'
  | 'future_timestamp'
  | 'no_matching_key';

export type SignatureResult =
  | {
      ok: true;
      timestamp: number;
      /** Which of the keys signed it. */
      keyIndex: number;
    }
  | { ok: false; reason: SignatureFailure };

export interface ParsedSignatureHeader {
  timestamp: number;
  /** Every well-formed v1 digest in the header, as 32 raw bytes each. */
  digests: Buffer[];
}

const HEX_DIGEST = /^[0-9a-f]{64}$/i;
const UNIX_SECONDS = /^\d{1,12}$/;

/**
 * Parses `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`. Calendly's header may carry extra spaces and
 * keys we do not know; those are tolerated. A header without exactly one numeric `t`, or
 * without any well-formed v1, is malformed.
 */
export function parseSignatureHeader(header: string): ParsedSignatureHeader | null {
  let timestamp: number | null = null;
  let timestamps = 0;
  const digests: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      timestamps += 1;
      timestamp = UNIX_SECONDS.test(value) ? Number(value) : null;
    } else if (key === 'v1' && HEX_DIGEST.test(value)) {
      digests.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestamps !== 1 || timestamp === null || digests.length === 0) return null;
  return { timestamp, digests };
}

/** HMAC-SHA256 of `<t>.<raw body>` keyed with the signing key as UTF-8 text (not base64-decoded). */
export function computeSignature(key: string, timestamp: number, rawBody: Uint8Array): Buffer {
  return createHmac('sha256', key).update(`${timestamp}.`).update(rawBody).digest();
}

/** The header Calendly would send for these bytes: used by tests, the CLI example and benches. */
export function signatureHeader(
  key: string,
  timestamp: number,
  rawBody: Uint8Array | string,
): string {
  const bytes = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
  return `t=${timestamp},v1=${computeSignature(key, timestamp, bytes).toString('hex')}`;
}

export interface VerifyInput {
  header: string | undefined;
  rawBody: Uint8Array;
  /** Every key accepted for this hook: its own, the app key, a replaced hook's during its grace. */
  keys: readonly string[];
  toleranceSeconds: number;
  /** Current time in epoch milliseconds. */
  now: number;
}

/**
 * Verifies a Calendly delivery over its raw bytes. The timestamp is checked before any HMAC is
 * computed, and every comparison is constant-time. Keys are tried in order and the first that
 * signed the body ends the search: a refused signature is compared with every key and digest,
 * and how soon a valid one matched tells its sender only which key they used.
 */
export function verifySignature(input: VerifyInput): SignatureResult {
  if (input.header === undefined || input.header.trim() === '') {
    return { ok: false, reason: 'missing_header' };
  }
  const parsed = parseSignatureHeader(input.header);
  if (!parsed) return { ok: false, reason: 'malformed_header' };

  const age = Math.floor(input.now / 1000) - parsed.timestamp;
  if (age > input.toleranceSeconds) return { ok: false, reason: 'stale_timestamp' };
  if (-age > input.toleranceSeconds) return { ok: false, reason: 'future_timestamp' };

  for (const [keyIndex, key] of input.keys.entries()) {
    const expected = computeSignature(key, parsed.timestamp, input.rawBody);
    let matched = false;
    for (const digest of parsed.digests) {
      // Every digest of the header is compared, so timing does not tell which one matched.
      if (timingSafeEqual(expected, digest)) matched = true;
    }
    if (matched) return { ok: true, timestamp: parsed.timestamp, keyIndex };
  }
  return { ok: false, reason: 'no_matching_key' };
}
