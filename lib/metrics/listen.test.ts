import { parseMetricsListen } from './server.js';

describe('--metrics-listen', () => {
  it('HOST:PORT, [v6]:PORT and :PORT', () => {
    expect(parseMetricsListen('--metrics-listen', '127.0.0.1:10257')).toEqual({ host: '127.0.0.1', port: 10257 });
    expect(parseMetricsListen('--metrics-listen', '[::1]:10250')).toEqual({ host: '::1', port: 10250 });
    expect(parseMetricsListen('--metrics-listen', ':9100')).toEqual({ host: '0.0.0.0', port: 9100 });
  });

  it.each(['10257', 'localhost', '127.0.0.1:', '127.0.0.1:70000', '127.0.0.1:http'])('refuses %p naming the flag', (value) => {
    expect(() => parseMetricsListen('--metrics-listen', value)).toThrow(`--metrics-listen: invalid address "${value}" (use HOST:PORT, e.g. 127.0.0.1:10257)`);
  });
});
