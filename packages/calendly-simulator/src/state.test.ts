// Proves the simulator's secondary indexes stay true to the map through sets, moves and deletes.
import { describe, expect, it } from 'vitest';
import { Indexed } from './state.ts';

interface Thing {
  organizationUri: string;
  hostUri: string | null;
  name: string;
}

const names = (things: Iterable<Thing>) => [...things].map((t) => t.name);

function things() {
  return new Indexed<Thing, 'organization' | 'host'>({
    organization: (t) => t.organizationUri,
    host: (t) => t.hostUri,
  });
}

describe('Indexed', () => {
  it('files each resource under every key, in the order it was first set', () => {
    const map = things();
    map.set('a', { organizationUri: 'o1', hostUri: 'h1', name: 'a' });
    map.set('b', { organizationUri: 'o2', hostUri: 'h1', name: 'b' });
    map.set('c', { organizationUri: 'o1', hostUri: null, name: 'c' });
    map.set('a', { organizationUri: 'o1', hostUri: 'h1', name: 'a2' });
    expect(names(map.filed('organization', 'o1'))).toEqual(['a2', 'c']);
    expect(names(map.filed('organization', 'o2'))).toEqual(['b']);
    expect(names(map.filed('organization', 'o3'))).toEqual([]);
    expect(names(map.filed('host', 'h1'))).toEqual(['a2', 'b']);
    expect(map.size).toBe(3);
  });

  it('moves a resource whose keys changed, and forgets deleted and cleared ones', () => {
    const map = things();
    map.set('a', { organizationUri: 'o1', hostUri: 'h1', name: 'a' });
    map.set('b', { organizationUri: 'o1', hostUri: 'h2', name: 'b' });
    map.set('a', { organizationUri: 'o2', hostUri: 'h2', name: 'a' });
    expect(names(map.filed('organization', 'o1'))).toEqual(['b']);
    expect(names(map.filed('organization', 'o2'))).toEqual(['a']);
    expect(names(map.filed('host', 'h1'))).toEqual([]);
    expect(names(map.filed('host', 'h2'))).toEqual(['b', 'a']);
    expect(map.delete('b')).toBe(true);
    expect(map.delete('b')).toBe(false);
    expect(names(map.filed('organization', 'o1'))).toEqual([]);
    expect(names(map.filed('host', 'h2'))).toEqual(['a']);
    map.clear();
    expect(names(map.filed('organization', 'o2'))).toEqual([]);
    expect(names(map.filed('host', 'h2'))).toEqual([]);
    expect(map.size).toBe(0);
  });
});
