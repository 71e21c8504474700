// Pieces the mTLS checks share: the fixture topology's actors and the `NR` corroboration.
import { sameAddress } from '../../harness/access-log.js';
import type { AtFault, ControlStep, Corroboration } from '../../harness/check.js';
import { reachedEcho } from '../../harness/expect.js';
import { type PostureView, ROOT_NAMESPACE, type ServicePort } from '../../harness/posture/view.js';
import { namespaceRequestsInjection, podOptsOut } from '../../harness/istio/injection.js';
import { effectivePeerAuthentication } from '../../harness/sweep/estate.js';
import type { Ref, Target } from '../../harness/target.js';

/** Fixture topology (ARCHITECTURE.md): the in-mesh client with a grant, and the sidecar-less attacker. */
export const AUTHORIZED: Ref = { namespace: 'mesh', name: 'authorized' };
export const OUTSIDE: Ref = { namespace: 'outside', name: 'outside' };
export const AUTHORIZED_SA = 'authorized';

/**
 * The destination's record of a refused plaintext connection: flag `NR`, details `filter_chain_not_found`, and
 * the attacker's own address as downstream remote (istio-behaviours.md §1, §6).
 */
export const filterChainNotFound: Corroboration = {
  describe: 'NR filter_chain_not_found',
  counter: 'no_filter_chain_match',
  matches: (r, o) =>
    r.responseFlags.split(',').includes('NR') &&
    r.responseCodeDetails === 'filter_chain_not_found' &&
    sameAddress(r.downstreamRemoteAddress, o.localAddress),
};

/** The positive control: the authorized in-mesh probe reaches the echo app through the same Service port. */
export function reachEchoControl(target: Target, to: Ref, p: ServicePort): ControlStep {
  const id = target.identity(AUTHORIZED.namespace, AUTHORIZED_SA);
  return {
    from: AUTHORIZED,
    to,
    port: p.port,
    kind: p.protocol,
    expect: reachedEcho(id),
    orMeshDenial: true,
    proves:
      (p.protocol === 'http' ? `reached the echo app with its nonce; last XFCC URI = ${id}` : 'reached the echo app: the nonce came back over TCP') +
      ' (or, where every call is denied by design, a mesh denial with a rising rbac.denied at the destination)',
  };
}

export function missing(view: PostureView, refs: { kind: string; ref: Ref }[]): string | undefined {
  const absent = refs.filter((x) => !view.has(x.kind, x.ref)).map((x) => `${x.kind} ${x.ref.namespace}/${x.ref.name}`);
  return absent.length > 0 ? `the posture lacks ${absent.join(', ')}` : undefined;
}

/** The first port of `protocol` the posture declares for a Service. */
export function portOf(view: PostureView, service: Ref, protocol: ServicePort['protocol']): ServicePort | undefined {
  return view.port(service, protocol);
}

type ServiceSpec = { selector?: Record<string, string>; ports?: { port: number; targetPort?: number | string }[] };
type DeploymentSpec = { template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } } };

/**
 * Should plaintext get through to `service:port`: what the snapshot says sets the mode of each pod port behind it,
 * by Istio's composition (the model, harness/istio/peer-authentication.ts), and the fix. A port the snapshot already
 * makes STRICT is named too: then the policy is right and the mesh did not enforce it.
 */
/**
 * What stands behind one Service port in the posture snapshot: the container port it targets (a named targetPort is
 * not resolved: undefined) and every Deployment whose pod labels its selector matches (each of their pods is an
 * endpoint: the Kubernetes EndpointSlice controller).
 */
export function serviceBackends(view: PostureView, service: Ref, port: number): { targetPort: number; workloads: { name: string; labels: Record<string, string>; annotations: Record<string, string> }[] } | undefined {
  const manifests = view.posture.objects.map((o) => o.manifest);
  const svc = manifests.find((m) => m.kind === 'Service' && m.metadata.namespace === service.namespace && m.metadata.name === service.name);
  const spec = svc?.spec as ServiceSpec | undefined;
  const sp = spec?.ports?.find((p) => p.port === port);
  const selector = spec?.selector;
  if (!selector || !sp) return undefined;
  const targetPort = typeof sp.targetPort === 'number' ? sp.targetPort : sp.targetPort === undefined ? sp.port : undefined;
  if (targetPort === undefined) return undefined;
  const workloads = manifests
    .filter((m) => m.kind === 'Deployment' && m.metadata.namespace === service.namespace)
    .map((m) => {
      const t = (m.spec as DeploymentSpec | undefined)?.template;
      return { name: m.metadata.name, labels: t?.metadata?.labels ?? {}, annotations: t?.metadata?.annotations ?? {} };
    })
    .filter((d) => Object.entries(selector).every(([k, v]) => d.labels[k] === v));
  return { targetPort, workloads };
}

export function plaintextAtFault(view: PostureView, service: Ref, port: number): AtFault | undefined {
  const manifests = view.posture.objects.map((o) => o.manifest);
  const backends = serviceBackends(view, service, port);
  if (!backends) return undefined;
  const { targetPort, workloads: pods } = backends;
  // A pod the injector skips has no sidecar to enforce any mode (I: pkg/kube/inject/inject.go injectRequired; the
  // webhooks' selectors): the posture's own opt-out, or a namespace that asks for no injection, is at fault.
  const nsLabels = manifests.find((m) => m.kind === 'Namespace' && m.metadata.name === service.namespace)?.metadata.labels ?? {};
  const optedOut = pods.filter((d) => podOptsOut(d.labels, d.annotations));
  if (optedOut.length > 0) {
    return {
      object: `${optedOut.map((d) => `Deployment ${service.namespace}/${d.name}`).join(', ')} opts out of injection (sidecar.istio.io/inject: "false" on its pod template): no sidecar enforces mTLS on container port ${targetPort}`,
      remedy: 'remove the sidecar.istio.io/inject: "false" label or annotation from the pod template and restart the pods',
    };
  }
  const optedIn = (d: { labels: Record<string, string> }) => d.labels['sidecar.istio.io/inject'] === 'true';
  if (!namespaceRequestsInjection(nsLabels) && pods.length > 0 && !pods.some(optedIn)) {
    return {
      object: `Namespace ${service.namespace} asks for no injection (neither istio-injection=enabled nor istio.io/rev): ${pods.map((d) => `${service.namespace}/${d.name}`).join(', ')} run without a sidecar`,
      remedy: `label the namespace istio-injection=enabled (or istio.io/rev=<revision>) and restart its pods`,
    };
  }
  const settings = pods.map((d) => ({ d, e: effectivePeerAuthentication(manifests, ROOT_NAMESPACE, { namespace: service.namespace, labels: d.labels }, targetPort) }));
  const weak = settings.filter((x) => x.e.mode !== 'STRICT');
  if (weak.length === 0 && settings.length > 0) {
    const e = settings[0]!.e;
    return {
      object: `${e.setBy} sets STRICT on container port ${targetPort} of ${settings.map((x) => `${service.namespace}/${x.d.name}`).join(', ')}: the policy is right, the mesh did not enforce it`,
      remedy: `check that istiod pushed it (istioctl proxy-status; istioctl x describe pod) and that the pods run an istio-proxy`,
    };
  }
  const w = weak[0];
  if (!w) return undefined;
  const defaulted = w.e.setBy.startsWith('no PeerAuthentication');
  return {
    object: `${defaulted ? 'no PeerAuthentication sets a mode (Istio\'s default is PERMISSIVE)' : `${w.e.setBy} sets ${w.e.mode}`} on container port ${targetPort} of ${weak.map((x) => `${service.namespace}/${x.d.name}`).join(', ')}${w.e.note ? ` (${w.e.note})` : ''}`,
    remedy: defaulted
      ? `apply a PeerAuthentication with mtls.mode STRICT in ${ROOT_NAMESPACE} (mesh-wide) or in ${service.namespace}`
      : `set ${/portLevelMtls/.test(w.e.setBy) ? `portLevelMtls[${targetPort}].mode` : 'spec.mtls.mode'} to STRICT (or UNSET to inherit a STRICT level above) in ${w.e.setBy.replace(/ portLevelMtls.*$/, '')}`,
  };
}
