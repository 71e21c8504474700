// `meshproof preflight`: is a cluster ready for meshproof.
import type { Command } from 'commander';
import { loadKubeConfig } from '../cluster/kube/connect.js';
import { preflight } from '../cluster/kube/preflight.js';


export function preflightCommand(cmd: Command): void {
  cmd
    .command('preflight')
    .description('check a cluster is ready for meshproof: API, permissions, Istio CRDs, istiod, injection webhook; warns when deploy/confine.yaml is not installed or does not confine this identity')
    .option('--kubeconfig <file>', 'kubeconfig file (default: KUBECONFIG, in-cluster, ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .option('--istio-namespace <ns>', 'where istiod runs', 'istio-system')
    .option('--revision <rev>', 'the control-plane revision, or a revision tag, to check (istiod-<rev>, ConfigMap istio-<rev>)')
    .addHelpText('after', '\nExit codes: 0 ready, 2 configuration to fix (permissions, CRDs, webhook), 3 cluster unreachable or unhealthy.')
    .action(async (o: { kubeconfig?: string; context?: string; istioNamespace: string; revision?: string }) => {
      const { kc, source } = loadKubeConfig(o);
      const r = await preflight(kc, { istioNamespace: o.istioNamespace, revision: o.revision });
      process.stdout.write(
        `ready: ${r.server} (${source}), Kubernetes ${r.kubernetes}, trust domain ${r.trustDomain}, istiod ${r.istiod.image} ${r.istiod.ready} ready, webhooks ${r.webhooks.join(', ')}, ${r.permissions} permissions granted${r.confine ? `, confined by ValidatingAdmissionPolicy ${r.confine}` : ''}\n`,
      );
      for (const w of r.warnings) process.stderr.write(`meshproof: warning: ${w}\n`);
    });}
