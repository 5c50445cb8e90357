import { Writable } from 'node:stream';

export interface CapturedLogs {
  /** Pass as `createLogger({ destination })`. */
  destination: Writable;
  /** Everything written so far. */
  text(): string;
  /** Every line parsed as JSON (pino writes one object per line). */
  lines(): Record<string, unknown>[];
}

/** Collects every log line a test's processes write, to search them afterwards. */
export function captureLogs(): CapturedLogs {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const text = () => chunks.join('');
  return {
    destination,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/**
 * Fails naming each secret (never its value) that appears in the captured text, verbatim or in
 * the encodings a log line could carry it in: JSON-escaped, URL-encoded, base64.
 */
export function expectNoSecrets(captured: string, secrets: Record<string, string>): void {
  const leaked: string[] = [];
  for (const [name, value] of Object.entries(secrets)) {
    if (value.length < 8) throw new Error(`secret ${name} is too short to search for reliably`);
    const forms = new Set([
      value,
      JSON.stringify(value).slice(1, -1),
      encodeURIComponent(value),
      Buffer.from(value).toString('base64'),
      Buffer.from(value).toString('base64url'),
    ]);
    if ([...forms].some((form) => captured.includes(form))) leaked.push(name);
  }
  if (leaked.length > 0) throw new Error(`secrets found in the logs: ${leaked.join(', ')}`);
}
