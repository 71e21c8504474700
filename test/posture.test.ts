// Posture loading, overlays, and the lab's refusal of anything it does not implement.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildModel, destinationRuleFor, effectiveMtls } from '../cluster/lab/model.js';
import { ConfigError } from '../harness/errors.js';
import { loadPosture, overlay, parseManifests } from '../harness/posture/load.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshproof-posture-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const secure = () => loadPosture('fixtures/secure');
const withOverlay = (yaml: string) => loadPosture('fixtures/secure', [file(`o-${Math.random()}.yaml`, yaml)]);

describe('loadPosture', () => {
  it('loads the secure posture in file order', () => {
    const p = secure();
    expect(p.objects.length).toBeGreaterThan(10);
    expect(p.objects[0]!.source).toMatch(/00-namespaces\.yaml#1$/);
  });

  it('overlays replace by group/kind/namespace/name and add the rest', () => {
    const [a, b] = parseManifests('apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: mesh}\nspec: {mtls: {mode: STRICT}}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x, namespace: mesh}\n', 'base.yaml');
    // v1beta1 and v1 are the same object: overlays key on the API group, not the version.
    const [c] = parseManifests('apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: mesh}\nspec: {mtls: {mode: PERMISSIVE}}\n', 'ov.yaml');
    const [d] = parseManifests('apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: y, namespace: mesh}\n', 'ov2.yaml');
    const merged = overlay([a!, b!], [c!, d!]);
    expect(merged.map((o) => o.source)).toEqual(['ov.yaml#1', 'base.yaml#2', 'ov2.yaml#1']);
  });

  it.each([
    ['malformed YAML', 'kind: [unclosed\n', /#1: malformed YAML/],
    ['no kind', 'apiVersion: v1\nmetadata: {name: x}\n', /#1: missing kind/],
    ['no name', 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {namespace: mesh}\n', /ServiceAccount has no metadata.name/],
    ['no namespace', 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\n', /has no metadata.namespace/],
    ['a scalar', 'hello\n', /must be a mapping/],
  ])('refuses %s with the file and document number', (_n, text, re) => {
    expect(() => loadPosture(file(`bad-${Math.random()}.yaml`, text))).toThrow(re);
    expect(() => loadPosture(file(`bad-${Math.random()}.yaml`, text))).toThrow(ConfigError);
  });

  it('refuses duplicates inside one posture and a missing path', () => {
    const p = file('dup.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n');
    expect(() => loadPosture(p)).toThrow(/dup\.yaml#2: Namespace a is already defined at .*dup\.yaml#1/);
    expect(() => loadPosture(path.join(dir, 'nope'))).toThrow(/no such file/);
  });
});

describe('the lab refuses what it does not implement (never silently ignored)', () => {
  it.each([
    ['an unknown field', 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: mesh}\nspec:\n  mtls: {mode: STRICT}\n  targetRefs: [{kind: Service, name: echo}]\n', /PeerAuthentication mesh\/default: field spec\.targetRefs is not implemented by the lab/],
    ['an unknown kind', 'apiVersion: networking.istio.io/v1\nkind: EnvoyFilter\nmetadata: {name: f, namespace: mesh}\nspec: {}\n', /EnvoyFilter mesh\/f: kind EnvoyFilter .* not implemented/],
    ['an unknown mode', 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: mesh}\nspec: {mtls: {mode: STRICTISH}}\n', /spec\.mtls\.mode/],
    ['portLevelMtls without a selector', 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: mesh}\nspec:\n  portLevelMtls: {"9000": {mode: DISABLE}}\n', /mesh\/namespace peer authentication cannot have port level mTLS/],
    ['an Istio annotation it does not emulate', 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: echo, namespace: mesh}\nspec:\n  selector: {matchLabels: {app: echo}}\n  template:\n    metadata:\n      labels: {app: echo}\n      annotations: {traffic.sidecar.istio.io/excludeInboundPorts: "9000"}\n    spec:\n      serviceAccountName: echo\n      containers: [{name: a, command: [node, /opt/meshproof/agent.mjs], args: [echo], ports: [{containerPort: 8080}, {containerPort: 9000}]}]\n', /annotations\.traffic\.sidecar\.istio\.io\/excludeInboundPorts: unsupported Istio annotation/],
    ['a container that is not the agent', 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: echo, namespace: mesh}\nspec:\n  selector: {matchLabels: {app: echo}}\n  template:\n    metadata: {labels: {app: echo}}\n    spec:\n      containers: [{name: a, command: [nginx], args: [echo]}]\n', /runs only the meshproof agent/],
    ['an Istio annotation on a Service', 'apiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: mesh, annotations: {networking.istio.io/exportTo: "."}}\nspec:\n  selector: {app: echo}\n  ports: [{name: http, port: 8080}]\n', /Service mesh\/echo: metadata\.annotations\.networking\.istio\.io\/exportTo: unsupported Istio annotation/],
    ['an Istio label on a policy', 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: mesh, labels: {istio.io/rev: canary}}\nspec: {mtls: {mode: STRICT}}\n', /PeerAuthentication mesh\/default: metadata\.labels\.istio\.io\/rev: unsupported Istio label/],
    ['an Istio annotation on a Deployment', 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: echo, namespace: mesh, annotations: {sidecar.istio.io/inject: "false"}}\nspec:\n  selector: {matchLabels: {app: echo}}\n  template:\n    metadata: {labels: {app: echo}}\n    spec:\n      serviceAccountName: echo\n      containers: [{name: a, command: [node, /opt/meshproof/agent.mjs], args: [echo], ports: [{containerPort: 8080}, {containerPort: 9000}]}]\n', /Deployment mesh\/echo: metadata\.annotations\.sidecar\.istio\.io\/inject: unsupported Istio annotation/],
    ['a mesh-config field it does not emulate', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: |\n    accessLogFile: /dev/stdout\n    enableTracing: true\n', /ConfigMap istio-system\/istio: data\.mesh: enableTracing: not implemented by the lab/],
    ['a Telemetry provider the mesh config does not define', 'apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: t, namespace: mesh}\nspec: {accessLogging: [{providers: [{name: otel}]}]}\n', /Telemetry mesh\/t: provider otel is neither `envoy` nor an extensionProvider/],
    ['a Telemetry filter it cannot evaluate', 'apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: t, namespace: mesh}\nspec: {accessLogging: [{providers: [{name: envoy}], filter: {expression: "request.host == \'x\'"}}]}\n', /filters of the form `response\.code >= 400` only/],
    ['an ambient namespace', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: mesh, labels: {istio.io/dataplane-mode: ambient}}\n', /istio\.io\/dataplane-mode: unsupported Istio label/],
  ])('%s', (_n, yaml, re) => {
    expect(() => buildModel(withOverlay(yaml))).toThrow(re);
  });

  it('names the file and the document in the error', () => {
    expect(() => buildModel(withOverlay('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: mesh}\n'))).toThrow(/o-[\d.]+\.yaml#1: ConfigMap mesh\/c/);
  });
});

describe('effective mTLS mode (PeerAuthentication precedence)', () => {
  const modeOf = (yamls: string[], ns: string, name: string, port: number) => {
    const m = buildModel(loadPosture('fixtures/secure', yamls.map((y, i) => file(`pa-${i}-${Math.random()}.yaml`, y))));
    return effectiveMtls(m, m.deployments.find((d) => d.namespace === ns && d.name === name)!, port);
  };
  const pa = (ns: string, name: string, spec: string) => `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: ${spec}\n`;
  it.each([
    ['secure posture', [], 'mesh', 8080, 'STRICT'],
    ['namespace PERMISSIVE beats mesh-wide STRICT', [pa('mesh', 'default', '{mtls: {mode: PERMISSIVE}}')], 'mesh', 8080, 'PERMISSIVE'],
    ['bare inherits mesh-wide STRICT', [], 'bare', 8080, 'STRICT'],
    ['mesh-wide PERMISSIVE reaches bare', [pa('istio-system', 'default', '{mtls: {mode: PERMISSIVE}}')], 'bare', 8080, 'PERMISSIVE'],
    ['UNSET inherits', [pa('mesh', 'default', '{mtls: {mode: UNSET}}'), pa('istio-system', 'default', '{mtls: {mode: DISABLE}}')], 'mesh', 8080, 'DISABLE'],
    ['portLevelMtls keys on the container port', [pa('mesh', 'p', '{selector: {matchLabels: {app: echo}}, portLevelMtls: {"9000": {mode: DISABLE}}}')], 'mesh', 9000, 'DISABLE'],
    ['portLevelMtls leaves other ports alone', [pa('mesh', 'p', '{selector: {matchLabels: {app: echo}}, portLevelMtls: {"9000": {mode: DISABLE}}}')], 'mesh', 8080, 'STRICT'],
    ['no policy anywhere is PERMISSIVE (Istio default)', [pa('istio-system', 'default', '{mtls: {mode: UNSET}}')], 'bare', 8080, 'PERMISSIVE'],
    // ComposePeerAuthentication ignores a selector in the root namespace (policy_applier_test.go "ignore non-emptypb
    // selector in root namespace"); the lab used to refuse it, it now follows the model.
    ['a selector in the root namespace is ignored', [pa('istio-system', 'sel', '{selector: {matchLabels: {app: echo}}, mtls: {mode: DISABLE}}')], 'mesh', 8080, 'STRICT'],
    // An UNSET port-level entry inherits the composed mode (policy_applier_test.go "port level").
    ['an UNSET portLevelMtls entry inherits the workload mode', [pa('mesh', 'p', '{selector: {matchLabels: {app: echo}}, mtls: {mode: PERMISSIVE}, portLevelMtls: {"9000": {mode: UNSET}}}')], 'mesh', 9000, 'PERMISSIVE'],
  ] as const)('%s', (_n, yamls, ns, port, mode) => {
    expect(modeOf([...yamls], ns, 'echo', port)).toBe(mode);
  });

  it('two PeerAuthentications at one level: Istio keeps the oldest; posture objects have no creation time, so the lab refuses the tie the model reports', () => {
    expect(() => modeOf([pa('mesh', 'a-second', '{mtls: {mode: DISABLE}}')], 'mesh', 'echo', 8080)).toThrow(/compete at the namespace level; Istio keeps the oldest/);
    expect(() => modeOf([pa('mesh', 'w1', '{selector: {matchLabels: {app: echo}}, mtls: {mode: DISABLE}}'), pa('mesh', 'w2', '{selector: {matchLabels: {app: echo}}, mtls: {mode: STRICT}}')], 'mesh', 'echo', 8080)).toThrow(/PeerAuthentication mesh\/w1, PeerAuthentication mesh\/w2 compete at the workload level/);
  });
});

describe('exportTo ["."] in the lab (K-H4: what a run renders for a cluster, modelled as Istio resolves it)', () => {
  const dr = (ns: string, exportTo: string) => `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: echo, namespace: ${ns}}\nspec: {host: echo.mesh.svc.cluster.local, ${exportTo}trafficPolicy: {connectionPool: {tcp: {maxConnections: 7}}}}\n`;
  it('K-H4: a DestinationRule exported to "." applies to clients of its own namespace only; without exportTo, to every namespace', () => {
    const local = buildModel(withOverlay(dr('mesh', 'exportTo: ["."], ')));
    expect(destinationRuleFor(local, 'mesh', 'mesh', 'echo')?.policy.maxConnections).toBe(7);
    expect(destinationRuleFor(local, 'outside', 'mesh', 'echo')).toBeUndefined();
    const everywhere = buildModel(withOverlay(dr('mesh', '')));
    expect(destinationRuleFor(everywhere, 'outside', 'mesh', 'echo')?.policy.maxConnections).toBe(7);
  });

  it('K-H4: any other exportTo is refused by the lab, naming the field', () => {
    expect(() => buildModel(withOverlay(dr('mesh', 'exportTo: ["*"], ')))).toThrow(/DestinationRule mesh\/echo: .*exportTo.*the lab implements exportTo \["\."\] only/);
  });
});

describe('the lab decides injection with harness/istio/injection.ts', () => {
  const deployment = (name: string, ns: string, labels: string, annotations: string) =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n  selector: {matchLabels: {app: ${name}}}\n  template:\n    metadata: {labels: {app: ${name}${labels}}${annotations}}\n    spec: {containers: [{name: app, command: [node, /opt/meshproof/agent.mjs], args: [echo]}]}\n`;

  it('issue 20: an annotation opt-out in an injected namespace is called by the webhook (fails closed in an outage) but not injected', () => {
    const m = buildModel(withOverlay(deployment('optout', 'bare', '', ", annotations: {sidecar.istio.io/inject: 'false'}")));
    expect(m.deployments.find((d) => d.name === 'optout')).toMatchObject({ injected: false, webhookCalled: true });
    const labelled = buildModel(withOverlay(deployment('optout', 'bare', ", sidecar.istio.io/inject: 'false'", '')));
    expect(labelled.deployments.find((d) => d.name === 'optout')).toMatchObject({ injected: false, webhookCalled: false });
  });

  it('issue 20: the lab follows the revision it is given (istio.io/rev), as the façade does', () => {
    const ns = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: canaryns, labels: {istio.io/rev: canary}}\n---\n';
    const posture = withOverlay(ns + deployment('rev', 'canaryns', '', ''));
    expect(buildModel(posture).deployments.find((d) => d.name === 'rev')?.injected).toBe(false);
    expect(buildModel(posture, { revisions: ['default', 'canary'] }).deployments.find((d) => d.name === 'rev')?.injected).toBe(true);
  });
});
