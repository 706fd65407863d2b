/**
 * `make up`'s first step: creates (or completes) the PKI under `<state dir>/pki` before etcd
 * starts, since etcd needs its certificates before the apiserver's first start could make them,
 * and the serving certificate of the controller-manager's and agent's /metrics.
 * With --etcd-peer (`make up-ha`), also the certificate etcd members present to each other.
 * Usage: tsx hack/ensure-pki.ts <state dir> [--etcd-peer]
 */
import {
  ensureEtcdCertificates,
  ensureEtcdPeerCertificate,
  ensureMetricsServingCertificate,
  ensureServingCertificates,
} from '../apiserver/pki/certificates.js';

const stateDir = process.argv[2];
if (!stateDir) {
  process.stderr.write('usage: tsx hack/ensure-pki.ts <state dir> [--etcd-peer]\n');
  process.exit(2);
}
ensureServingCertificates(stateDir);
ensureEtcdCertificates(stateDir);
ensureMetricsServingCertificate(stateDir);
if (process.argv.includes('--etcd-peer')) ensureEtcdPeerCertificate(stateDir);
