// Proves the invitee and scheduled-event schemas are as lenient as real Calendly data needs
// (a listed invitee without an e-mail is still an invitee), and that text Postgres cannot hold
// is cleaned where Calendly data is parsed.
import { describe, expect, it } from 'vitest';
import { inviteeSchema, scheduledEventSchema } from './payloads.ts';
import { cleanText, parseCleanJson } from './text.ts';

describe('Calendly object schemas', () => {
  it('accept an invitee without e-mail, name or status, and an event without times', () => {
    const invitee = inviteeSchema.safeParse({
      uri: 'https://api.calendly.com/scheduled_events/E1/invitees/I1',
      event: 'https://api.calendly.com/scheduled_events/E1',
      email: null,
    });
    expect(invitee.success).toBe(true);
    expect(
      scheduledEventSchema.safeParse({ uri: 'https://api.calendly.com/scheduled_events/E1' })
        .success,
    ).toBe(true);
  });

  it('still require what identifies the object', () => {
    expect(inviteeSchema.safeParse({ event: 'e' }).success).toBe(false);
    expect(scheduledEventSchema.safeParse({ name: 'x' }).success).toBe(false);
  });
});

describe('text cleaning', () => {
  it('replaces NUL and lone surrogates with U+FFFD, in values and keys, and keeps the rest', () => {
    const nul = String.fromCharCode(0);
    expect(cleanText(`a${nul}b\ud800c\udc00`)).toBe('a\uFFFDb\uFFFDc\uFFFD');
    expect(cleanText('ok 😀')).toBe('ok 😀');
    expect(parseCleanJson('{"n\\u0000":["x\\u0000",1,{"y":"\\ud800"}],"t":true}')).toEqual({
      'n\uFFFD': ['x\uFFFD', 1, { y: '\uFFFD' }],
      t: true,
    });
  });
});
