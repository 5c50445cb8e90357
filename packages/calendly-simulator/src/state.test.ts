import { describe, expect, it } from 'vitest';
import { ByOrganization } from './state.ts';

interface Thing {
  organizationUri: string;
  name: string;
}

const names = (things: Iterable<Thing>) => [...things].map((t) => t.name);

describe('ByOrganization', () => {
  it('lists each organization’s resources, in the order they were first set', () => {
    const map = new ByOrganization<Thing>();
    map.set('a', { organizationUri: 'o1', name: 'a' });
    map.set('b', { organizationUri: 'o2', name: 'b' });
    map.set('c', { organizationUri: 'o1', name: 'c' });
    map.set('a', { organizationUri: 'o1', name: 'a2' });
    expect(names(map.inOrganization('o1'))).toEqual(['a2', 'c']);
    expect(names(map.inOrganization('o2'))).toEqual(['b']);
    expect(names(map.inOrganization('o3'))).toEqual([]);
    expect(map.size).toBe(3);
  });

  it('moves a resource whose organization changed, and forgets deleted and cleared ones', () => {
    const map = new ByOrganization<Thing>();
    map.set('a', { organizationUri: 'o1', name: 'a' });
    map.set('b', { organizationUri: 'o1', name: 'b' });
    map.set('a', { organizationUri: 'o2', name: 'a' });
    expect(names(map.inOrganization('o1'))).toEqual(['b']);
    expect(names(map.inOrganization('o2'))).toEqual(['a']);
    expect(map.delete('b')).toBe(true);
    expect(map.delete('b')).toBe(false);
    expect(names(map.inOrganization('o1'))).toEqual([]);
    map.clear();
    expect(names(map.inOrganization('o2'))).toEqual([]);
    expect(map.size).toBe(0);
  });
});
