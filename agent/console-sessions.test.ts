import { describe, expect, it } from '@jest/globals';
import { consoleEndReason } from './console-sessions.js';

describe('consoleEndReason', () => {
  it("maps the driver's end reasons to the wire's (the apiserver's close reason codes)", () => {
    expect((['stopped', 'taken', 'closed', 'error'] as const).map(consoleEndReason)).toEqual(['VMStopped', 'ConsoleTaken', 'Closed', 'Error']);
  });
});
