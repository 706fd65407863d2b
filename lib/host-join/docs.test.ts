import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { HOST_JOIN_ERROR_CODES, HostJoinErrorCodes } from './codes.js';

const page = readFileSync(path.resolve(import.meta.dirname, '../../docs/adding-a-host.md'), 'utf8');

describe('docs/adding-a-host.md', () => {
  it.each(HOST_JOIN_ERROR_CODES)('documents %s with its exit code, HTTP status and guidance', (code) => {
    const row = page.split('\n').find((line) => line.startsWith(`| ${code} `));
    expect(row).toBeDefined();
    const cells = row!.split('|').map((c) => c.trim());
    const { exitCode, httpStatus, guidance } = HostJoinErrorCodes[code];
    expect([cells[2], cells[3], cells[5]]).toEqual([String(exitCode), String(httpStatus), guidance]);
  });
});
