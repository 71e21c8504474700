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
  /** The istioctl binary of this version (istioctl installs its own version): `--istioctl`, per version in the gate. */
  istioctl?: string;
}

/** `istioctl version --remote=false --short` prints `client version: 1.30.1` (istio-behaviours.md §10), older ones just `1.30.1`. */
export function parseIstioctlVersion(out: string): string | undefined {
  return /(?:client version:\s*)?(\d+\.\d+\.\d+(?:[-+.\w]*)?)/i.exec(out.trim())?.[1];
}

/** Whether a concrete version satisfies `1.30.1`, `~1.30.0` (same minor) or `1.30` as the user wrote it. */
export function versionMatches(actual: string, wanted: string): boolean {
  const w = wanted.replace(/^[~^]/, '');
  const [a, b] = [actual.split('.'), w.split('.')];
  if (wanted.startsWith('~') || w.split('.').length < 3) return a[0] === b[0] && a[1] === b[1];
  return actual === w;
}

export async function installIstio(o: IstioInstall, mode: 'install' | 'upgrade' = 'install'): Promise<void> {
  const kc = ['--kubeconfig', o.kubeconfig];
  if (o.installer === 'istioctl') {
    const istioctl = o.istioctl ?? 'istioctl';
    await requireTool(istioctl);
    const out = await run(istioctl, ['version', '--remote=false', '--short'], { timeoutMs: 15_000 });
    const v = parseIstioctlVersion(out);
    if (!v || !versionMatches(v, o.version)) {
      throw new ConfigError(`${istioctl} is ${v ?? `unparseable (${out.trim().split('\n')[0]})`}, not ${o.version}: istioctl installs its own version; pass --istioctl with the right one or use --installer helm`);
    }
    await run(istioctl, ['install', ...kc, '--set', 'profile=minimal', '--set', 'values.pilot.resources.requests.cpu=100m', '--set', 'values.pilot.resources.requests.memory=256Mi', '-y'], { timeoutMs: INSTALL_TIMEOUT_MS });
    return;
  }
  await requireTool('helm');
  const common = [...kc, '--repo', CHARTS, '--version', o.version, '--namespace', 'istio-system', '--wait', '--timeout', '10m'];
  const verb = mode === 'install' ? ['upgrade', '--install'] : ['upgrade'];
  await run('helm', [...verb, 'istio-base', 'base', ...common, '--create-namespace', '--set', 'defaultRevision=default'], { timeoutMs: INSTALL_TIMEOUT_MS });
  await run('helm', [...verb, 'istiod', 'istiod', ...common, '--set', 'pilot.resources.requests.cpu=100m', '--set', 'pilot.resources.requests.memory=256Mi'], { timeoutMs: INSTALL_TIMEOUT_MS });
  await run('helm', [...verb, 'istio-ingressgateway', 'gateway', ...common, '--set', 'service.type=NodePort'], { timeoutMs: INSTALL_TIMEOUT_MS });
}
