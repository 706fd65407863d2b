import { histogramQuantiles, parsePrometheus, sumOf } from './metrics.js';

const scrape = (fast: number, slow: number) =>
  parsePrometheus(
    [
      '# HELP apiserver_request_duration_seconds x',
      `apiserver_request_duration_seconds_bucket{verb="get",resource="vms",le="0.1"} ${fast}`,
      `apiserver_request_duration_seconds_bucket{verb="get",resource="vms",le="1"} ${fast + slow}`,
      `apiserver_request_duration_seconds_bucket{verb="get",resource="vms",le="+Inf"} ${fast + slow}`,
      `apiserver_request_duration_seconds_bucket{verb="WATCH",resource="vms",le="+Inf"} 3`,
      'etcd_mvcc_put_total 12',
      'etcd_mvcc_put_total{x="y"} 30',
    ].join('\n'),
  );

describe('scale bench metrics', () => {
  it('parses Prometheus text and sums a metric over its label sets', () => {
    const samples = scrape(1, 0);
    expect(samples.find((s) => s.labels.verb === 'get' && s.labels.le === '0.1')?.value).toBe(1);
    expect(sumOf(samples, 'etcd_mvcc_put_total')).toBe(42);
    expect(sumOf(samples, 'absent_total')).toBeUndefined();
  });

  it('takes quantiles per verb from the difference of two scrapes, leaving watches out', () => {
    // Between the scrapes: 98 fast gets and 2 slow ones.
    const q = histogramQuantiles(scrape(10, 0), scrape(108, 2), 'apiserver_request_duration_seconds', 'verb', [0.5, 0.99]);
    expect(q).toEqual({ get: { count: 100, p50: '≤0.1s', p99: '≤1s' } });
  });
});
