// What the lab implements, as strict schemas. A kind or field outside them is refused with an error naming the
// file, the object and the field: silently ignoring one would make a posture look stronger than it is.
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseGoDuration } from '../../harness/duration.js';
import { ConfigError } from '../../harness/errors.js';
import { describeObject, type PostureObject } from '../../harness/posture/load.js';
import { pathProblem } from '../../harness/istio/authz.js';
import { STATS_ANNOTATIONS } from '../../harness/istio/stats.js';
import { GATEWAY_API_REFUSAL } from '../../harness/posture/view.js';
import { compileFilter } from './envoy/access-log.js';

/** Where the agent bundle is mounted in pods (from a ConfigMap in a cluster). */
export const AGENT_PATH = '/opt/meshproof/agent.mjs';

const stringMap = z.record(z.string(), z.string());
const matchLabels = z.strictObject({ matchLabels: stringMap });

/** Istio annotations and labels the lab understands; any other `*.istio.io/*` key is refused. */
const ISTIO_KEYS = new Set(['sidecar.istio.io/inject', 'proxy.istio.io/config', 'inject.istio.io/templates', ...Object.values(STATS_ANNOTATIONS)]);
/**
 * `istio.io/rev` as a label (pod template or Namespace): the revision whose webhooks inject the pod, decided by
 * harness/istio/injection.ts against the lab's control planes (I: istio-discovery/templates/mutatingwebhook.yaml).
 */
const REVISION_LABEL = 'istio.io/rev';
const istioKeysOnly = (m: Record<string, string> | undefined, ctx: z.RefinementCtx, where: string[], allowed: Set<string> = ISTIO_KEYS) => {
  for (const k of Object.keys(m ?? {})) {
    if (/(^|\.)istio\.io\//.test(k) && !allowed.has(k)) {
      ctx.addIssue({ code: 'custom', path: [...where, k], message: 'unsupported Istio annotation or label' });
    }
  }
};

const metadata = z.strictObject({
  name: z.string().min(1),
  namespace: z.string().min(1).optional(),
  labels: stringMap.optional(),
  annotations: stringMap.optional(),
});

const namespace = z.strictObject({ apiVersion: z.literal('v1'), kind: z.literal('Namespace'), metadata });

const serviceAccount = z.strictObject({ apiVersion: z.literal('v1'), kind: z.literal('ServiceAccount'), metadata });

const AGENT_COMMAND = `the lab runs only the meshproof agent: command must be ["node", "${AGENT_PATH}"]`;
/**
 * The agent (echo or probe), or an Istio gateway: a pod annotated `inject.istio.io/templates: gateway` whose only
 * container is `istio-proxy` with `image: auto`, which the injector turns into Envoy (IO: setup/additional-setup/gateway).
 */
const container = z.strictObject({
  name: z.string(),
  image: z.string().optional(),
  command: z.tuple([z.literal('node'), z.literal(AGENT_PATH)], { error: AGENT_COMMAND }).optional(),
  args: z
    .union([
      z.tuple([z.literal('echo')]).rest(z.string()),
      z.tuple([z.literal('probe'), z.literal('--idle')]),
    ])
    .optional(),
  ports: z.array(z.strictObject({ containerPort: z.number().int().min(1).max(65535), name: z.string().optional(), protocol: z.literal('TCP').optional() })).optional(),
});

const validRegexp = (v: string) => {
  try {
    new RegExp(v);
    return true;
  } catch {
    return false;
  }
};

/** `proxyStatsMatcher` (API: mesh/v1alpha1/proxy.proto): what the sidecar keeps beyond Istio's defaults (§10). */
const statsMatcherSchema = z.strictObject({
  inclusionPrefixes: z.array(z.string().min(1)).optional(),
  inclusionSuffixes: z.array(z.string().min(1)).optional(),
  inclusionRegexps: z.array(z.string().min(1).refine(validRegexp, 'not a valid regular expression')).optional(),
});

/**
 * proxy.istio.io/config: proxyMetadata.SECRET_TTL (§4), proxyStatsMatcher (§10) and
 * proxyHeaders.envoyDebugHeaders.disabled (the router's suppress_envoy_headers; I: pilot/pkg/networking/util/
 * proxy_headers.go GetProxyHeadersFromProxyConfig, pilot/pkg/xds/filters/filters.go routers) are emulated.
 */
const proxyConfigSchema = z.strictObject({
  proxyHeaders: z.strictObject({ envoyDebugHeaders: z.strictObject({ disabled: z.boolean().optional() }).optional() }).optional(),
  proxyMetadata: z
    .strictObject({
      SECRET_TTL: z.string().refine((v) => parseGoDuration(v) !== undefined, 'SECRET_TTL must be a Go duration such as 24h or 10m'),
    })
    .optional(),
  proxyStatsMatcher: statsMatcherSchema.optional(),
});

/** The annotation holds JSON (or YAML); either parses as YAML. */
function parseYamlish(text: string): unknown {
  try {
    return parseYaml(text);
  } catch {
    return text;
  }
}

export type ProxyConfig = z.infer<typeof proxyConfigSchema>;

/** The pod's `proxy.istio.io/config`, already validated by the Deployment schema. */
export function proxyConfigOf(annotations: Record<string, string> | undefined): ProxyConfig {
  const raw = annotations?.['proxy.istio.io/config'];
  return raw === undefined ? {} : ((parseYamlish(raw) ?? {}) as ProxyConfig);
}

export function secretTtlOf(annotations: Record<string, string> | undefined): number | undefined {
  const ttl = proxyConfigOf(annotations).proxyMetadata?.SECRET_TTL;
  return ttl === undefined ? undefined : parseGoDuration(ttl);
}

const deployment = z
  .strictObject({
    apiVersion: z.literal('apps/v1'),
    kind: z.literal('Deployment'),
    metadata,
    spec: z.strictObject({
      replicas: z.number().int().min(0).max(8).optional(),
      selector: matchLabels,
      template: z.strictObject({
        metadata: z.strictObject({ labels: stringMap, annotations: stringMap.optional() }),
        spec: z.strictObject({
          serviceAccountName: z.string().optional(),
          containers: z.array(container).length(1, 'the lab runs exactly one container per pod (plus its sidecar)'),
        }),
      }),
    }),
  })
  .superRefine((o, ctx) => {
    const proxyConfig = o.spec.template.metadata.annotations?.['proxy.istio.io/config'];
    if (proxyConfig !== undefined) {
      const r = proxyConfigSchema.safeParse(parseYamlish(proxyConfig));
      if (!r.success) {
        const i = r.error.issues[0]!;
        const field = i.code === 'unrecognized_keys' ? [...i.path, i.keys[0]!].join('.') : i.path.join('.');
        ctx.addIssue({ code: 'custom', path: ['spec', 'template', 'metadata', 'annotations', 'proxy.istio.io/config'], message: `${field || 'value'}: ${i.code === 'unrecognized_keys' ? 'not implemented by the lab' : i.message}` });
      }
    }
    const c = o.spec.template.spec.containers[0];
    const template = o.spec.template.metadata.annotations?.['inject.istio.io/templates'];
    if (template !== undefined && template !== 'gateway') {
      ctx.addIssue({ code: 'custom', path: ['spec', 'template', 'metadata', 'annotations', 'inject.istio.io/templates'], message: 'the lab implements only the `gateway` injection template' });
    } else if (template === 'gateway') {
      if (c && (c.name !== 'istio-proxy' || c.image !== 'auto' || c.command || c.args)) {
        ctx.addIssue({ code: 'custom', path: ['spec', 'template', 'spec', 'containers', 0], message: 'a gateway pod has one container `istio-proxy` with `image: auto` and no command or args (the injector fills it in)' });
      }
    } else if (c && (!c.command || !c.args)) {
      ctx.addIssue({ code: 'custom', path: ['spec', 'template', 'spec', 'containers', 0, c.command ? 'args' : 'command'], message: c.command ? 'the agent needs args: [echo, …] or [probe, --idle]' : AGENT_COMMAND });
    }
    istioKeysOnly(o.spec.template.metadata.annotations, ctx, ['spec', 'template', 'metadata', 'annotations']);
    istioKeysOnly(o.spec.template.metadata.labels, ctx, ['spec', 'template', 'metadata', 'labels'], new Set([...ISTIO_KEYS, REVISION_LABEL]));
    for (const [k, v] of Object.entries(o.spec.selector.matchLabels)) {
      if (o.spec.template.metadata.labels[k] !== v) {
        ctx.addIssue({ code: 'custom', path: ['spec', 'selector', 'matchLabels', k], message: 'does not match the pod template labels' });
      }
    }
  });

const service = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Service'),
  metadata,
  spec: z.strictObject({
    type: z.literal('ClusterIP').optional(),
    selector: stringMap,
    ports: z
      .array(
        z.strictObject({
          name: z.string().regex(/^(http|http2|https|tcp|tls)(-.*)?$/, 'the lab selects the protocol by port name: http, http2, https, tcp or tls (optionally -suffix)'),
          port: z.number().int().min(1).max(65535),
          targetPort: z.number().int().min(1).max(65535).optional(),
          protocol: z.literal('TCP').optional(),
        }),
      )
      .min(1),
  }),
});

export const MTLS_MODES = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'] as const;
export type MtlsMode = (typeof MTLS_MODES)[number];
const mode = z.strictObject({ mode: z.enum(MTLS_MODES).optional() });

const peerAuthentication = z.strictObject({
  apiVersion: z.enum(['security.istio.io/v1', 'security.istio.io/v1beta1']),
  kind: z.literal('PeerAuthentication'),
  metadata,
  spec: z.strictObject({
    selector: matchLabels.optional(),
    mtls: mode.optional(),
    portLevelMtls: z.record(z.string().regex(/^\d+$/, 'port numbers only'), mode).optional(),
  }),
});

const telemetry = z.strictObject({
  apiVersion: z.enum(['telemetry.istio.io/v1', 'telemetry.istio.io/v1alpha1']),
  kind: z.literal('Telemetry'),
  metadata,
  spec: z.strictObject({
    selector: matchLabels.optional(),
    accessLogging: z
      .array(
        z.strictObject({
          providers: z.array(z.strictObject({ name: z.string().min(1) })).optional(),
          disabled: z.boolean().optional(),
          match: z.strictObject({ mode: z.enum(['CLIENT', 'SERVER', 'CLIENT_AND_SERVER']).optional() }).optional(),
          filter: z
            .strictObject({
              expression: z.string().refine((e) => compileFilter(e) !== undefined, 'the lab implements filters of the form `response.code >= 400` only'),
            })
            .optional(),
        }),
      )
      .optional(),
  }),
});

/**
 * The mesh config (ConfigMap `istio` in the root namespace, key `mesh`): the fields that decide access logging and egress
 * (istio-behaviours.md §10). Any other field is refused, as everywhere in the lab.
 */
const meshConfigSchema = z.strictObject({
  accessLogFile: z.string().optional(),
  accessLogEncoding: z.enum(['TEXT', 'JSON']).optional(),
  accessLogFormat: z.string().optional(),
  disableEnvoyListenerLog: z.boolean().optional(),
  rootNamespace: z.literal('istio-system', 'the lab\'s root namespace is istio-system').optional(),
  trustDomain: z.literal('cluster.local', 'the lab\'s trust domain is cluster.local').optional(),
  defaultProviders: z.strictObject({ accessLogging: z.array(z.string().min(1)).optional() }).optional(),
  /** Egress of sidecars whose Sidecar sets no outboundTrafficPolicy (harness/istio/sidecar-scope.ts, §7). */
  outboundTrafficPolicy: z.strictObject({ mode: z.enum(['REGISTRY_ONLY', 'ALLOW_ANY']) }).optional(),
  extensionProviders: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        envoyFileAccessLog: z
          .strictObject({
            path: z.string().optional(),
            logFormat: z.strictObject({ text: z.string().optional(), labels: z.record(z.string(), z.unknown()).optional() }).optional(),
          })
          .optional(),
        envoyOtelAls: z.strictObject({ service: z.string(), port: z.number().int() }).optional(),
        /**
         * An HTTP ext_authz provider for CUSTOM AuthorizationPolicies (API: mesh/v1alpha1/config.proto
         * MeshConfig.ExtensionProvider.EnvoyExternalAuthorizationHttpProvider). The lab serves it itself on loopback
         * (envoy/ext-authz.ts); gRPC providers and every other field are refused.
         */
        envoyExtAuthzHttp: z
          .strictObject({
            service: z.string().min(1),
            // uint32 in the proto; YAML samples quote it ("8000"), which protobuf JSON parsing accepts.
            port: z.union([z.number().int().min(1).max(65535), z.string().regex(/^\d+$/, 'a port number')]),
            includeRequestHeadersInCheck: z.array(z.string().min(1)).optional(),
          })
          .optional(),
      }),
    )
    .optional(),
});

export type MeshConfig = z.infer<typeof meshConfigSchema>;

const configMap = z
  .strictObject({
    apiVersion: z.literal('v1'),
    kind: z.literal('ConfigMap'),
    metadata: metadata.refine((m) => m.name === 'istio' && m.namespace === 'istio-system', 'the lab implements only ConfigMap istio-system/istio (the mesh config)'),
    data: z.strictObject({ mesh: z.string() }),
  })
  .superRefine((o, ctx) => {
    let parsed: unknown;
    try {
      parsed = parseYaml(o.data.mesh) ?? {};
    } catch (e) {
      ctx.addIssue({ code: 'custom', path: ['data', 'mesh'], message: `not YAML: ${(e as Error).message.split('\n')[0]}` });
      return;
    }
    const r = meshConfigSchema.safeParse(parsed);
    if (!r.success) {
      const i = r.error.issues[0]!;
      const field = i.code === 'unrecognized_keys' ? [...i.path, i.keys[0]!].join('.') : i.path.join('.');
      ctx.addIssue({ code: 'custom', path: ['data', 'mesh'], message: `${field || 'value'}: ${i.code === 'unrecognized_keys' ? 'not implemented by the lab' : i.message}` });
    }
  });

export function meshConfigOf(o: { data: { mesh: string } }): MeshConfig {
  return (parseYaml(o.data.mesh) ?? {}) as MeshConfig;
}

const stringList = z.array(z.string().min(1)).min(1);

const authorizationPolicy = z.strictObject({
  apiVersion: z.enum(['security.istio.io/v1', 'security.istio.io/v1beta1']),
  kind: z.literal('AuthorizationPolicy'),
  metadata,
  spec: z.strictObject({
    selector: matchLabels.optional(),
    action: z.enum(['ALLOW', 'DENY', 'CUSTOM'], 'the lab implements ALLOW, DENY and CUSTOM (HTTP ext_authz providers); AUDIT is not implemented').optional(),
    /** CUSTOM only: the mesh config's extensionProviders entry (an envoyExtAuthzHttp one) that decides. */
    provider: z.strictObject({ name: z.string().min(1) }).optional(),
    rules: z
      .array(
        z.strictObject({
          from: z
            .array(
              z.strictObject({
                source: z.strictObject({
                  principals: stringList.optional(),
                  notPrincipals: stringList.optional(),
                  namespaces: stringList.optional(),
                  notNamespaces: stringList.optional(),
                }),
              }),
            )
            .optional(),
          to: z
            .array(
              z.strictObject({
                operation: z.strictObject({
                  methods: stringList.optional(),
                  notMethods: stringList.optional(),
                  paths: stringList.optional(),
                  notPaths: stringList.optional(),
                  // Matched on `:authority` by the model (harness/istio/authz.ts; I: pilot/pkg/security/authz/matcher/
                  // header.go HostMatcher, exact/prefix/suffix, ignoring case); the lab's inbound passes the Host.
                  hosts: stringList.optional(),
                  notHosts: stringList.optional(),
                  ports: z.array(z.string().regex(/^\d+$/, 'ports are strings of digits')).min(1).optional(),
                  notPorts: z.array(z.string().regex(/^\d+$/, 'ports are strings of digits')).min(1).optional(),
                }),
              }),
            )
            .optional(),
        }),
      )
      .optional(),
  }),
}).superRefine((o, ctx) => {
  // API: security/v1beta1/authorization_policy.proto: `provider` is the CUSTOM action's and only its.
  const custom = o.spec.action === 'CUSTOM';
  if (custom && !o.spec.provider) ctx.addIssue({ code: 'custom', path: ['spec', 'provider'], message: 'a CUSTOM policy names its provider' });
  if (!custom && o.spec.provider) ctx.addIssue({ code: 'custom', path: ['spec', 'provider'], message: 'provider is for the CUSTOM action only' });
  // Istio's validation (I: pkg/config/validation/validation.go ValidateAuthorizationPolicy) refuses all of these.
  if ((custom || o.spec.action === 'DENY') && o.spec.rules === undefined) {
    ctx.addIssue({ code: 'custom', path: ['spec', 'rules'], message: `${o.spec.action} action without \`rules\` is meaningless as it will never be triggered; add an empty rule \`{}\` to trigger it for every request` });
  }
  for (const [i, rule] of (o.spec.rules ?? []).entries()) {
    const at = ['spec', 'rules', i];
    if (rule.from?.length === 0) ctx.addIssue({ code: 'custom', path: [...at, 'from'], message: `\`from\` must not be empty, found at rule ${i}` });
    if (rule.to?.length === 0) ctx.addIssue({ code: 'custom', path: [...at, 'to'], message: `\`to\` must not be empty, found at rule ${i}` });
    for (const [j, { source }] of (rule.from ?? []).entries()) {
      if (Object.values(source).every((v) => v === undefined)) ctx.addIssue({ code: 'custom', path: [...at, 'from', j, 'source'], message: `\`from.source\` must not be empty, found at rule ${i}` });
      if (custom) {
        for (const k of ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'] as const) {
          if (source[k]) ctx.addIssue({ code: 'custom', path: [...at, 'from', j, 'source', k], message: `From.${k[0]!.toUpperCase()}${k.slice(1)} is currently not supported with CUSTOM action` });
        }
      }
    }
    for (const [j, { operation }] of (rule.to ?? []).entries()) {
      if (Object.values(operation).every((v) => v === undefined)) ctx.addIssue({ code: 'custom', path: [...at, 'to', j, 'operation'], message: `\`to.operation\` must not be empty, found at rule ${i}` });
      for (const k of ['paths', 'notPaths'] as const) {
        for (const [n, path] of (operation[k] ?? []).entries()) {
          const why = pathProblem(path);
          if (why) ctx.addIssue({ code: 'custom', path: [...at, 'to', j, 'operation', k, n], message: why });
        }
      }
    }
  }
});

/**
 * Lab-only faults, for self-verification of the certificate checks. They mirror Envoy's
 * CertificateValidationContext fields (trust_chain_verification ACCEPT_UNTRUSTED, allow_expired_certificate)
 * and istiod's self-signed root lifetime; a cluster target refuses this kind.
 */
const labFault = z.strictObject({
  apiVersion: z.literal('lab.meshproof.dev/v1'),
  kind: z.literal('LabFault'),
  metadata,
  spec: z.strictObject({
    acceptUntrustedChain: z.boolean().optional(),
    allowExpiredCertificate: z.boolean().optional(),
    /** The agent cannot reach its CA (istiod down): certificates are never rotated (istio/istio#38081). */
    disableRotation: z.boolean().optional(),
    /**
     * A misconfiguration no real Istio setting produces, stated as such: while the control plane is down, every
     * sidecar falls back to accepting plaintext (CHAOS-001 must catch it).
     */
    plaintextOnControlPlaneOutage: z.boolean().optional(),
    /**
     * The injection webhook fails open (a MutatingWebhookConfiguration patched to `failurePolicy: Ignore`; Istio's
     * chart sets Fail, istio/istio#3724): a pod created while istiod is down starts without a sidecar.
     */
    injectionFailOpen: z.boolean().optional(),
    rootCertTtl: z.string().refine((v) => parseGoDuration(v) !== undefined, 'a Go duration such as 720h').optional(),
    /**
     * `<namespace>/<name>` of one AuthorizationPolicy the sidecars do not enforce, as if istiod never pushed it to
     * them (a stale or rejected xDS push): the policy stays in the API and in every model prediction, so the access
     * matrix must find the difference by attack (an enforcement hole).
     */
    skipAuthorizationPolicy: z.string().regex(/^[^/\s]+\/[^/\s]+$/, '<namespace>/<name>').optional(),
  }),
});

const goDuration = z.string().refine((v) => parseGoDuration(v) !== undefined, 'a duration such as 10s or 1m');

const destinationRule = z.strictObject({
  apiVersion: z.enum(['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3']),
  kind: z.literal('DestinationRule'),
  metadata,
  spec: z.strictObject({
    host: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'the lab implements exact hosts (short name or FQDN), no wildcards'),
    exportTo: z.tuple([z.literal('.', 'the lab implements exportTo ["."] only (visible in its own namespace)')]).optional(),
    trafficPolicy: z
      .strictObject({
        connectionPool: z
          .strictObject({
            // 0 is accepted and means unset, as in Istio (applyConnectionPool's `> 0` guards; see model.ts).
            tcp: z.strictObject({ maxConnections: z.number().int().min(0).optional() }).optional(),
            http: z
              .strictObject({
                http1MaxPendingRequests: z.number().int().min(0).optional(),
                http2MaxRequests: z.number().int().min(0).optional(),
                maxRequestsPerConnection: z.number().int().min(0).optional(),
              })
              .optional(),
          })
          .optional(),
        outlierDetection: z
          .strictObject({
            consecutive5xxErrors: z.number().int().min(0).optional(),
            interval: goDuration.optional(),
            baseEjectionTime: goDuration.optional(),
            maxEjectionPercent: z.number().int().min(0).max(100).optional(),
          })
          .optional(),
        tls: z.strictObject({ mode: z.enum(['DISABLE', 'ISTIO_MUTUAL'], 'the lab implements tls.mode DISABLE and ISTIO_MUTUAL') }).optional(),
      })
      .optional(),
  }),
});

const TLS_VERSIONS = ['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];
const hostname = z.string().regex(/^(\*\.)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'a DNS name, optionally starting with *.');

/** Istio `Gateway` (API: networking/v1alpha3/gateway.proto): HTTP servers with or without redirect, HTTPS SIMPLE. */
const gateway = z.strictObject({
  apiVersion: z.enum(['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3']),
  kind: z.literal('Gateway'),
  metadata,
  spec: z.strictObject({
    selector: stringMap,
    servers: z
      .array(
        z
          .strictObject({
            port: z.strictObject({ number: z.number().int().min(1).max(65535), name: z.string().min(1), protocol: z.enum(['HTTP', 'HTTPS'], 'the lab implements HTTP and HTTPS servers') }),
            hosts: z.array(hostname).min(1),
            tls: z
              .strictObject({
                httpsRedirect: z.boolean().optional(),
                mode: z.literal('SIMPLE', 'the lab implements tls.mode SIMPLE only').optional(),
                credentialName: z.string().min(1).optional(),
                minProtocolVersion: z.enum(TLS_VERSIONS).optional(),
                maxProtocolVersion: z.enum(TLS_VERSIONS).optional(),
                cipherSuites: z.array(z.string().regex(/^[A-Z0-9-]+$/, 'an OpenSSL/BoringSSL cipher name')).min(1).optional(),
              })
              .optional(),
          })
          .superRefine((s, ctx) => {
            if (s.port.protocol === 'HTTPS' && (s.tls?.mode !== 'SIMPLE' || !s.tls.credentialName)) {
              ctx.addIssue({ code: 'custom', path: ['tls'], message: 'an HTTPS server needs tls.mode SIMPLE and a credentialName' });
            }
            if (s.port.protocol === 'HTTP' && s.tls && Object.keys(s.tls).some((k) => k !== 'httpsRedirect')) {
              ctx.addIssue({ code: 'custom', path: ['tls'], message: 'an HTTP server takes only tls.httpsRedirect' });
            }
          }),
      )
      .min(1),
  }),
});

/** Istio `VirtualService` bound to gateways: one HTTP route to one destination, the shape the edge fixtures use. */
const virtualService = z.strictObject({
  apiVersion: z.enum(['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3']),
  kind: z.literal('VirtualService'),
  metadata,
  spec: z.strictObject({
    hosts: z.array(hostname).min(1),
    gateways: z.array(z.string().min(1)).min(1, 'the lab implements VirtualServices bound to gateways only'),
    exportTo: z.tuple([z.literal('.', 'the lab implements exportTo ["."] only (visible in its own namespace)')]).optional(),
    http: z
      .array(
        z.strictObject({
          route: z.array(z.strictObject({ destination: z.strictObject({ host: z.string().min(1), port: z.strictObject({ number: z.number().int() }) }) })).length(1, 'the lab implements one destination per route'),
        }),
      )
      .length(1, 'the lab implements one http route'),
  }),
});

/** Istio `Sidecar` for a whole namespace: the outbound traffic policy (§7); egress must keep every host visible. */
const sidecar = z.strictObject({
  apiVersion: z.enum(['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3']),
  kind: z.literal('Sidecar'),
  metadata,
  spec: z.strictObject({
    outboundTrafficPolicy: z.strictObject({ mode: z.enum(['REGISTRY_ONLY', 'ALLOW_ANY']) }).optional(),
    egress: z.array(z.strictObject({ hosts: z.tuple([z.literal('*/*', 'the lab implements egress hosts ["*/*"] only')]) })).length(1),
  }),
});

/**
 * Istio `ServiceEntry` for destinations outside the mesh, by address (resolution NONE: the original destination).
 * `meshproof.dev/addresses-of: <namespace>/<deployment>` asks the Target to add that Deployment's pod IPs to
 * `addresses` when it applies the entry: the "external" servers of the fixtures have no fixed address.
 */
const serviceEntry = z.strictObject({
  apiVersion: z.enum(['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3']),
  kind: z.literal('ServiceEntry'),
  metadata,
  spec: z.strictObject({
    hosts: z.array(hostname.refine((h) => h !== '*', 'a full wildcard host is invalid in a ServiceEntry')).min(1),
    addresses: z.array(z.string().regex(/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/, 'an IPv4 address or CIDR')).optional(),
    ports: z.array(z.strictObject({ number: z.number().int().min(1).max(65535), name: z.string().min(1), protocol: z.enum(['HTTP', 'TCP']) })).min(1),
    location: z.literal('MESH_EXTERNAL', 'the lab implements MESH_EXTERNAL entries'),
    resolution: z.literal('NONE', 'the lab implements resolution NONE (original destination)'),
    exportTo: z.tuple([z.literal('.', 'the lab implements exportTo ["."] only (visible in its own namespace)')]).optional(),
  }),
});

/**
 * A `kubernetes.io/tls` Secret the Target generates (`meshproof.dev/generate: tls`): a posture never carries a
 * private key. Annotations: `meshproof.dev/tls-hosts` (comma-separated DNS names), `meshproof.dev/tls-valid-days`,
 * `meshproof.dev/tls-chain` (`complete`: leaf and intermediate; `leaf-only`: the intermediate left out).
 */
const secret = z
  .strictObject({
    apiVersion: z.literal('v1'),
    kind: z.literal('Secret'),
    metadata,
    type: z.literal('kubernetes.io/tls', 'the lab implements kubernetes.io/tls Secrets only'),
    /** Only as a Target wrote it after generating it (the Kubernetes façade); posture files never carry it. */
    data: z.strictObject({ 'tls.crt': z.string().min(1), 'tls.key': z.string().min(1) }).optional(),
  })
  .superRefine((o, ctx) => {
    const a = o.metadata.annotations ?? {};
    if (o.data) return;
    if (a['meshproof.dev/generate'] !== 'tls') ctx.addIssue({ code: 'custom', path: ['metadata', 'annotations', 'meshproof.dev/generate'], message: 'must be `tls`: the lab generates the certificate (a posture never carries a private key)' });
    if (!a['meshproof.dev/tls-hosts']) ctx.addIssue({ code: 'custom', path: ['metadata', 'annotations', 'meshproof.dev/tls-hosts'], message: 'names the DNS names of the certificate' });
    const days = a['meshproof.dev/tls-valid-days'];
    if (days !== undefined && !/^\d+$/.test(days)) ctx.addIssue({ code: 'custom', path: ['metadata', 'annotations', 'meshproof.dev/tls-valid-days'], message: 'a whole number of days' });
    const chain = a['meshproof.dev/tls-chain'];
    if (chain !== undefined && chain !== 'complete' && chain !== 'leaf-only') ctx.addIssue({ code: 'custom', path: ['metadata', 'annotations', 'meshproof.dev/tls-chain'], message: 'complete or leaf-only' });
  });

/** The ClusterRole deploy/rbac.yaml installs for gateways: secrets get, watch, list (Istio's gateway chart Role). */
export const GATEWAY_SECRETS_ROLE = 'meshproof-gateway-secrets';

/**
 * The one RBAC object the lab implements: a RoleBinding of service accounts of its own namespace to ClusterRole
 * meshproof-gateway-secrets, which lets a gateway running as one of them receive its credentialName Secrets from
 * istiod's SDS (istio pilot/pkg/xds/sds.go `filterAuthorizedResources`; see lab-target.ts attachGateway).
 */
const roleBinding = z
  .strictObject({
    apiVersion: z.literal('rbac.authorization.k8s.io/v1'),
    kind: z.literal('RoleBinding'),
    metadata,
    roleRef: z.strictObject({ apiGroup: z.literal('rbac.authorization.k8s.io'), kind: z.literal('ClusterRole'), name: z.literal(GATEWAY_SECRETS_ROLE, `the lab implements RoleBindings to ClusterRole ${GATEWAY_SECRETS_ROLE} only`) }),
    subjects: z.array(z.strictObject({ kind: z.literal('ServiceAccount', 'the lab implements ServiceAccount subjects only'), name: z.string().min(1), namespace: z.string().min(1) })).min(1),
  })
  .superRefine((o, ctx) => {
    o.subjects.forEach((s, i) => {
      if (s.namespace !== o.metadata.namespace) ctx.addIssue({ code: 'custom', path: ['subjects', i, 'namespace'], message: `must be the RoleBinding's own namespace (${o.metadata.namespace}): the lab grants a gateway only its own namespace's Secrets` });
    });
  });

const SCHEMAS = {
  Namespace: namespace,
  ServiceAccount: serviceAccount,
  Deployment: deployment,
  Service: service,
  PeerAuthentication: peerAuthentication,
  Telemetry: telemetry,
  AuthorizationPolicy: authorizationPolicy,
  LabFault: labFault,
  DestinationRule: destinationRule,
  ConfigMap: configMap,
  Gateway: gateway,
  VirtualService: virtualService,
  Sidecar: sidecar,
  ServiceEntry: serviceEntry,
  Secret: secret,
  RoleBinding: roleBinding,
} as const;

export type LabKinds = { [K in keyof typeof SCHEMAS]: z.infer<(typeof SCHEMAS)[K]> };
export type LabObject = { [K in keyof LabKinds]: { kind: K; source: string; value: LabKinds[K] } }[keyof LabKinds];

function pathOf(p: PropertyKey[]): string {
  return p.map((s) => (typeof s === 'number' ? `[${s}]` : String(s))).join('.').replace(/\.\[/g, '[');
}

/**
 * `istio.io/dry-run` on an AuthorizationPolicy: the model (harness/istio/authz.ts `judge`) does not enforce it, as
 * istiod makes it a shadow rule only (I: pilot/pkg/security/authz/builder/builder.go isDryRun). The lab writes no
 * shadow-rule stats (`istio_dry_run_*`); nothing in meshproof reads them.
 */
const DRY_RUN = 'istio.io/dry-run';

/** Validates one posture object against what the lab implements. Throws a ConfigError naming file, object, field. */
export function validateForLab(o: PostureObject): LabObject {
  const m = o.manifest;
  const where = `${o.source}: ${describeObject(m)}`;
  if (m.apiVersion.startsWith('gateway.networking.k8s.io/')) throw new ConfigError(`${where}: ${GATEWAY_API_REFUSAL}`);
  const schema = (SCHEMAS as Record<string, z.ZodType>)[m.kind];
  if (!schema) {
    throw new ConfigError(`${where}: kind ${m.kind} (${m.apiVersion}) is not implemented by the lab`);
  }
  // Istio annotations and labels change enforcement as much as spec fields do: refuse every one the lab does not
  // implement (Namespace `istio-injection` is not under istio.io; pod-template keys are checked per kind).
  for (const part of ['labels', 'annotations'] as const) {
    for (const k of Object.keys(m.metadata?.[part] ?? {})) {
      if (m.kind === 'Namespace' && part === 'labels' && k === REVISION_LABEL) continue;
      if (part === 'annotations' && m.kind === 'AuthorizationPolicy' && k === DRY_RUN) continue;
      if (/(^|\.)istio\.io\//.test(k)) throw new ConfigError(`${where}: metadata.${part}.${k}: unsupported Istio ${part === 'labels' ? 'label' : 'annotation'} (not implemented by the lab)`);
    }
  }
  const r = schema.safeParse(m);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      const field = pathOf([...issue.path, issue.keys[0]!]);
      throw new ConfigError(`${where}: field ${field} is not implemented by the lab`);
    }
    throw new ConfigError(`${where}: ${pathOf(issue.path) || '(object)'}: ${issue.message}`);
  }
  return { kind: m.kind, source: o.source, value: r.data } as LabObject;
}
