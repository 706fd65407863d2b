/** Prometheus metrics of the apiserver, served at /metrics. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ApiserverMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'apiserver_request_total',
    help: 'API requests by verb, resource and HTTP code',
    labelNames: ['verb', 'resource', 'code'] as const,
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'apiserver_request_duration_seconds',
    help: 'API request latency by verb and resource (watches: time to first byte)',
    labelNames: ['verb', 'resource'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly watchers = new Gauge({
    name: 'apiserver_registered_watchers',
    help: 'Open watch streams by resource',
    labelNames: ['resource'] as const,
    registers: [this.registry],
  });
  readonly watchCacheLag = new Gauge({
    name: 'apiserver_watch_cache_lag_revisions',
    help: 'etcd revision minus the watch cache revision, by resource',
    labelNames: ['resource'] as const,
    registers: [this.registry],
  });
  readonly etcdDuration = new Histogram({
    name: 'etcd_request_duration_seconds',
    help: 'Latency of etcd operations issued by the storage layer',
    labelNames: ['operation', 'resource'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
