import { nextAssignment } from './use-assign-nodes.js';

describe('nextAssignment', () => {
  it('adds and removes a node, sorted and without duplicates', () => {
    expect(nextAssignment(['b', 'a'], 'c', true)).toEqual(['a', 'b', 'c']);
    expect(nextAssignment(['a'], 'a', true)).toEqual(['a']);
    expect(nextAssignment(['a', 'b'], 'a', false)).toEqual(['b']);
    expect(nextAssignment(undefined, 'a', false)).toEqual([]);
  });
});
