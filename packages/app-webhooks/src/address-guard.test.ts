// Proves the SSRF guard refuses endpoint URLs that are not https or that reach loopback,
// private, link-local, shared or metadata addresses (literal or through DNS), and lets public
// https URLs through; with private addresses allowed, http on loopback passes.
import { describe, expect, it } from 'vitest';
import { checkEndpointUrl, isForbiddenAddress, type Lookup } from './address-guard.ts';

const resolvesTo =
  (...addresses: string[]): Lookup =>
  async () =>
    addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

describe('the address guard', () => {
  it('knows forbidden addresses', () => {
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.100.100.200',
      '0.0.0.0',
      '::1',
      '::',
      'fe80::1',
      'fd00:ec2::254',
      'fc00::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:a9fe:a9fe',
      '64:ff9b::a00:1',
      '224.0.0.1',
      '255.255.255.255',
      'not-an-address',
    ]) {
      expect(isForbiddenAddress(address), address).toBe(true);
    }
    for (const address of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700::1111']) {
      expect(isForbiddenAddress(address), address).toBe(false);
    }
  });

  it('refuses http, credentials and private hosts, by literal or by name', async () => {
    const strict = (url: string, lookup: Lookup = resolvesTo('93.184.216.34')) =>
      checkEndpointUrl(url, { allowPrivate: false, lookup });
    expect(await strict('http://example.com/hook')).toMatchObject({
      ok: false,
      reason: 'not_https',
    });
    expect(await strict('ftp://example.com/hook')).toMatchObject({
      ok: false,
      reason: 'not_https',
    });
    expect(await strict('nonsense')).toMatchObject({ ok: false, reason: 'invalid_url' });
    expect(await strict('https://u:p@example.com/')).toMatchObject({
      ok: false,
      reason: 'invalid_url',
    });
    expect(await strict('https://127.0.0.1/')).toMatchObject({
      ok: false,
      reason: 'forbidden_address',
    });
    expect(await strict('https://[::1]/')).toMatchObject({
      ok: false,
      reason: 'forbidden_address',
    });
    expect(await strict('https://169.254.169.254/latest')).toMatchObject({
      ok: false,
      reason: 'forbidden_address',
    });
    expect(
      await strict('https://inside.example/', resolvesTo('93.184.216.34', '10.0.0.5')),
    ).toMatchObject({ ok: false, reason: 'forbidden_address' });
    expect(
      await strict('https://nowhere.example/', async () => {
        throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
      }),
    ).toMatchObject({ ok: false, reason: 'unresolvable' });
    expect(await strict('https://hooks.example.com/calhook')).toMatchObject({ ok: true });
  });

  it('lets http and loopback through when private addresses are allowed', async () => {
    const loose = await checkEndpointUrl('http://127.0.0.1:8080/hook', { allowPrivate: true });
    expect(loose).toMatchObject({ ok: true });
  });
});
