// What decides each certificate and chaos check, for the failure listing. Where a posture object decides (the
// pod's proxy.istio.io/config SECRET_TTL), it is named with its value. Where the decider is outside the posture
// (istiod's CA, the trust bundle, Envoy's validation, the injection webhook), that is said, never an invented
// object; in the lab such faults are LabFault objects of the posture, named as the lab-only fault they are.
import type { AtFault } from '../../harness/check.js';
import type { Manifest } from '../../harness/posture/load.js';
import type { PostureView } from '../../harness/posture/view.js';
import type { Ref } from '../../harness/target.js';
import { parse as parseYaml } from 'yaml';

/** The lab-only faults (kind LabFault, cluster/lab/schema.ts) a posture can carry, by their spec field. */
export type LabFaultField = 'allowExpiredCertificate' | 'acceptUntrustedChain' | 'disableRotation' | 'rootCertTtl' | 'injectionFailOpen' | 'plaintextOnControlPlaneOutage';

const manifestsOf = (view: PostureView): Manifest[] => view.posture.objects.map((o) => o.manifest);

/** The LabFault that sets `field`, named with its value, or the real decider when the posture has none. */
export function labFaultOr(view: PostureView, field: LabFaultField, real: AtFault): AtFault {
  const f = manifestsOf(view).find((m) => m.kind === 'LabFault' && (m.spec as Record<string, unknown> | undefined)?.[field] !== undefined);
  if (!f) return real;
  const value = (f.spec as Record<string, unknown>)[field];
  return {
    object: `LabFault ${f.metadata.namespace ? `${f.metadata.namespace}/` : ''}${f.metadata.name} spec.${field} = ${JSON.stringify(value)} (a lab-only fault; on a cluster: ${real.object})`,
    remedy: `remove the LabFault overlay (${f.metadata.name}); on a cluster: ${real.remedy}`,
  };
}

const deploymentOf = (view: PostureView, ref: Ref) => manifestsOf(view).find((m) => m.kind === 'Deployment' && m.metadata.namespace === ref.namespace && m.metadata.name === ref.name);

/** The SECRET_TTL a Deployment's pods ask for (`proxy.istio.io/config` proxyMetadata), as written. */
export function secretTtlAnnotation(view: PostureView, workload: Ref): string | undefined {
  const d = deploymentOf(view, workload);
  const raw = (d?.spec as { template?: { metadata?: { annotations?: Record<string, string> } } } | undefined)?.template?.metadata?.annotations?.['proxy.istio.io/config'];
  if (!raw) return undefined;
  try {
    // The annotation is YAML (JSON is YAML), as istiod reads ProxyConfig.
    return (parseYaml(raw) as { proxyMetadata?: { SECRET_TTL?: string } } | null)?.proxyMetadata?.SECRET_TTL;
  } catch {
    return undefined;
  }
}

/** CERT-001, lifetime: the pod's SECRET_TTL when it sets one, else istiod's default (not in the posture). */
export function lifetimeAtFault(view: PostureView, workload: Ref, maxHours: number): AtFault {
  const ttl = secretTtlAnnotation(view, workload);
  if (ttl !== undefined) {
    return {
      object: `Deployment ${workload.namespace}/${workload.name} spec.template.metadata.annotations["proxy.istio.io/config"] proxyMetadata.SECRET_TTL = ${ttl}`,
      remedy: `set SECRET_TTL to at most ${maxHours}h (or remove it for istiod's 24h default) and restart the pods`,
    };
  }
  return {
    object: `no SECRET_TTL on Deployment ${workload.namespace}/${workload.name}: the lifetime comes from istiod (DEFAULT_WORKLOAD_CERT_TTL / MAX_WORKLOAD_CERT_TTL, meshConfig.defaultConfig.proxyMetadata) or an external CA, not in the posture`,
    remedy: `lower istiod's DEFAULT_WORKLOAD_CERT_TTL (and MAX_WORKLOAD_CERT_TTL) or the external CA's issuance lifetime to at most ${maxHours}h`,
  };
}

/** CERT-001, identity: the SAN comes from the CA, from the pod's service account. */
export function identityAtFault(workload: Ref, serviceAccount: string): AtFault {
  return {
    object: `the mesh CA that signed ${workload.namespace}/${workload.name}'s certificate (istiod or an external CA, not in the posture); the Deployment runs as service account ${serviceAccount}`,
    remedy: 'make the CA issue exactly spiffe://<trust domain>/ns/<namespace>/sa/<service account> (check meshConfig.trustDomain and the CA integration), then restart the pods',
  };
}

export const rotationAtFault = (view: PostureView, pod: string): AtFault =>
  labFaultOr(view, 'disableRotation', {
    object: `certificate rotation of ${pod}: its istio-agent's CSR to istiod (or the external CA), not in the posture`,
    remedy: 'check the pod reaches istiod on 15012 and istiod signs (istioctl proxy-status; the istio-proxy log for "SDS: failed"); istio/istio#38081',
  });

export const foreignCaAtFault = (view: PostureView, pod: string): AtFault =>
  labFaultOr(view, 'acceptUntrustedChain', {
    object: `the trust anchors and validation of ${pod}'s sidecar (istio-ca-root-cert, meshConfig.caCertificates, or an EnvoyFilter changing validation_context), not in the posture`,
    remedy: 'remove the foreign root from the trust bundle and any EnvoyFilter that sets trust_chain_verification: ACCEPT_UNTRUSTED',
  });

export const expiredAtFault = (view: PostureView, pod: string): AtFault =>
  labFaultOr(view, 'allowExpiredCertificate', {
    object: `the certificate validation of ${pod}'s sidecar (an EnvoyFilter setting allow_expired_certificate), not in the posture`,
    remedy: 'remove the EnvoyFilter (kubectl get envoyfilter -A) that sets allow_expired_certificate',
  });

export const rootAtFault = (view: PostureView, days: number): AtFault =>
  labFaultOr(view, 'rootCertTtl', {
    object: "the mesh root CA (istiod's self-signed root, or the plugged-in Secret istio-system/cacerts), not in the posture",
    remedy: `rotate the root before it is within ${days} days of expiry (plug-in CA: a new cacerts with both roots in the bundle; self-signed: CITADEL_SELF_SIGNED_CA_CERT_TTL)`,
  });

export const injectionAtFault = (view: PostureView): AtFault =>
  labFaultOr(view, 'injectionFailOpen', {
    object: 'MutatingWebhookConfiguration istio-sidecar-injector webhooks[].failurePolicy (cluster-scoped, not in the posture)',
    remedy: 'set failurePolicy: Fail on every Istio injection webhook (Istio\'s chart default)',
  });

export const outageAtFault = (view: PostureView): AtFault =>
  labFaultOr(view, 'plaintextOnControlPlaneOutage', {
    object: 'no posture object: the sidecars changed behaviour while istiod was down',
    remedy: 'see the MTLS-001/AUTHZ-001 failure above for the policy at fault; check for EnvoyFilters and the proxies\' last xDS state (istioctl proxy-status)',
  });
