// Installs or upgrades Istio on a cluster meshproof provisioned (istio-behaviours.md §8): Helm charts `base`,
// `istiod` and `gateway` (NodePort: a LoadBalancer stays pending on kind), or `istioctl install --set
// profile=minimal`. Small-cluster resources. Access logging is switched on by the posture's Telemetry
// `mesh-default`, applied because the cluster is provisioned.
import { ConfigError } from '../../harness/errors.js';
import { requireTool, run } from '../providers/tools.js';

export const DEFAULT_ISTIO_VERSION = '~1.30.0';
const CHARTS = 'https://istio-release.storage.googleapis.com/charts';
const INSTALL_TIMEOUT_MS = 10 * 60_000;

export interface IstioInstall {
  version: string;
  installer: 'helm' | 'istioctl';
  kubeconfig: string;
}

export async function installIstio(o: IstioInstall, mode: 'install' | 'upgrade' = 'install'): Promise<void> {
  const kc = ['--kubeconfig', o.kubeconfig];
  if (o.installer === 'istioctl') {
    await requireTool('istioctl');
    const v = await run('istioctl', ['version', '--remote=false', '--short'], { timeoutMs: 15_000 });
    const wanted = o.version.replace(/^[~^]/, '');
    if (!v.trim().startsWith(wanted.replace(/\.0$/, ''))) {
      throw new ConfigError(`istioctl on PATH is ${v.trim()}, not ${o.version}: istioctl installs its own version; put the right one on PATH or use --installer helm`);
    }
    await run('istioctl', ['install', ...kc, '--set', 'profile=minimal', '--set', 'values.pilot.resources.requests.cpu=100m', '--set', 'values.pilot.resources.requests.memory=256Mi', '-y'], { timeoutMs: INSTALL_TIMEOUT_MS });
    return;
  }
  await requireTool('helm');
  const common = [...kc, '--repo', CHARTS, '--version', o.version, '--namespace', 'istio-system', '--wait', '--timeout', '10m'];
  const verb = mode === 'install' ? ['upgrade', '--install'] : ['upgrade'];
  await run('helm', [...verb, 'istio-base', 'base', ...common, '--create-namespace', '--set', 'defaultRevision=default'], { timeoutMs: INSTALL_TIMEOUT_MS });
  await run('helm', [...verb, 'istiod', 'istiod', ...common, '--set', 'pilot.resources.requests.cpu=100m', '--set', 'pilot.resources.requests.memory=256Mi'], { timeoutMs: INSTALL_TIMEOUT_MS });
  await run('helm', [...verb, 'istio-ingressgateway', 'gateway', ...common, '--set', 'service.type=NodePort'], { timeoutMs: INSTALL_TIMEOUT_MS });
}
