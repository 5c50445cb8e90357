// Proves any JSON string a booking carries (NUL, lone surrogates, any script) reaches webhook bodies and invitee listings unchanged, JSON-escaped.
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimUser, type Simulator, startSimulator } from '../src/index.ts';
import { api, pathOf } from './api.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

const NAME = 'Zoë\u0000 Ñandú \ud800 \udfff 李 👩🏽‍💻 \u202eevil';
const EMAIL = 'nul\u0000@example.com';
const QUESTION = 'Anything else?\u0000';
const ANSWER = 'lone \udbff end, tab\t, quote " and backslash \\';

let sim: Simulator;
let receiver: WebhookReceiver;
let host: SimUser;
let booked: { eventUri: string; inviteeUri: string };

beforeAll(async () => {
  sim = await startSimulator();
  receiver = await startWebhookReceiver();
  host = await sim.control.createUser();
  const created = await api(sim.url, host.personalAccessToken, '/webhook_subscriptions', {
    method: 'POST',
    json: {
      url: `${receiver.url}/h`,
      events: ['invitee.created'],
      organization: host.organizationUri,
      scope: 'user',
      user: host.uri,
      signing_key: 'text-key',
    },
  });
  expect(created.status).toBe(201);
  booked = await sim.control.book(host.uri, {
    inviteeName: NAME,
    inviteeEmail: EMAIL,
    questionsAndAnswers: [{ question: QUESTION, answer: ANSWER, position: 0 }],
  });
  expect(await sim.control.settle()).toEqual({ settled: true, pending: 0 });
});
afterAll(async () => {
  await sim.close();
  await receiver.close();
});

describe('texts of a booking', () => {
  it('reach the webhook body verbatim, escaped as JSON, under a valid signature', () => {
    expect(receiver.received).toHaveLength(1);
    const [delivery] = receiver.received;
    const raw = delivery!.body;
    // NUL and lone surrogates travel as JSON escapes, never as raw or replaced characters.
    expect(raw).toContain('Zoë\\u0000 Ñandú \\ud800 \\udfff 李 👩🏽‍💻');
    expect(raw).toContain('lone \\udbff end');
    expect(raw).not.toContain('\u0000');
    expect(raw).not.toContain('\ufffd');
    const payload = (JSON.parse(raw) as { payload: Record<string, unknown> }).payload;
    expect(payload).toMatchObject({
      name: NAME,
      email: EMAIL,
      questions_and_answers: [{ question: QUESTION, answer: ANSWER, position: 0 }],
    });
    const parts = Object.fromEntries(delivery!.signature.split(',').map((p) => p.split('=')));
    const expected = createHmac('sha256', 'text-key').update(`${parts.t}.${raw}`).digest('hex');
    expect(parts.v1).toBe(expected);
  });

  it('come back the same from the invitee listing and the invitee', async () => {
    const listing = await api<{ collection: Record<string, unknown>[] }>(
      sim.url,
      host.personalAccessToken,
      `${pathOf(booked.eventUri)}/invitees`,
    );
    expect(listing.body.collection).toMatchObject([
      {
        uri: booked.inviteeUri,
        name: NAME,
        email: EMAIL,
        questions_and_answers: [{ question: QUESTION, answer: ANSWER, position: 0 }],
      },
    ]);
    const one = await api(sim.url, host.personalAccessToken, pathOf(booked.inviteeUri));
    expect(one.body.resource).toMatchObject({ name: NAME, email: EMAIL });
  });

  it('are refused with 400 naming the field when they are not strings', async () => {
    await expect(
      sim.control.book(host.uri, { inviteeName: 42 as unknown as string }),
    ).rejects.toMatchObject({ status: 400, body: { message: 'inviteeName must be a string' } });
    await expect(
      sim.control.book(host.uri, {
        questionsAndAnswers: [{ question: 'Q', answer: null as unknown as string, position: 0 }],
      }),
    ).rejects.toMatchObject({ status: 400, body: { message: expect.stringContaining('[0]') } });
  });
});
