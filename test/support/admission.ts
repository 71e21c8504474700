// kube-apiserver's ValidatingAdmissionPolicy plugin, as much of it as the façade needs (test support): it loads
// deploy/confine.yaml (a ValidatingAdmissionPolicy and its binding), compiles every CEL expression once with a real
// CEL engine (@bufbuild/cel), and evaluates the policy on each write the façade takes, fed the AdmissionRequest
// kube-apiserver builds. What it does not implement (params, selectors, audit annotations, the authorizer) it
// refuses loudly when a policy uses it, so a policy can never pass here on a feature that was silently skipped.
//
// Sources (kubernetes/apiserver, staging of k8s.io/apiserver):
// - pkg/admission/plugin/policy/validating/dispatcher.go `Dispatch`: namespaceObject is looked up live for the
//   request's namespace, except for a Namespace request ("the namespace object has the namespace of itself"),
//   which gets null; the first denied decision becomes `admission.NewForbidden` with
//   "ValidatingAdmissionPolicy '<p>' with binding '<b>' denied request: <msg>", its reason the validation's
//   (Invalid when unset), its code `reasonToCode` (policy_decision.go: Forbidden 403, Unauthorized 401,
//   RequestEntityTooLarge 413, anything else 422).
// - pkg/admission/plugin/policy/validating/validator.go `Validate`: a compile error, a matchCondition error or an
//   evaluation error is a decision by failurePolicy (Fail: deny, reason unset so Invalid/422, the error as the
//   message); a false validation denies with messageExpression's string (trimmed; an error, a non-string, an
//   empty or a multi-line one falls back), then `message`, then "failed expression: <expr>".
// - pkg/admission/plugin/cel/condition.go `CreateAdmissionRequest` and activation.go `newActivation`: `request` is
//   an admission/v1 AdmissionRequest converted by `common.SchemalessTypedToVal`, which "mimics how the value would
//   look if it were converted to an unstructured map using JSON serialization" (pkg/cel/common/
//   valuesschemalesstyped.go): `omitempty` fields (subResource, name, namespace, requestSubResource) are ABSENT
//   when empty, and reading one is a "no such key" error (hence `has(request.subResource) && …`).
// - pkg/admission/plugin/cel/compile.go: `object`/`oldObject` are dyn, `request` is the typed
//   kubernetes.AdmissionRequest and `namespaceObject` the typed kubernetes.Namespace (`BuildNamespaceType`), so a
//   field that does not exist there is a compile (type-check) error, as is an undeclared identifier or an unknown
//   function; `params` is declared only with a paramKind, `authorizer` only where the authorizer is passed.
import { readFileSync } from 'node:fs';
import { type CelValue, celEnv, isCelError, parse, plan } from '@bufbuild/cel';
import { parseAllDocuments } from 'yaml';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** What the façade knows of a write (admission.Attributes). */
export interface AdmissionAttributes {
  operation: Operation;
  /** The resource as requested: group, version, plural. */
  resource: { group: string; version: string; resource: string };
  subResource?: string;
  kind: { group: string; version: string; kind: string };
  /** Empty for a create whose name the server generates. */
  name?: string;
  /** Absent for cluster-scoped resources. */
  namespace?: string;
  object: unknown;
  oldObject: unknown;
  username: string;
  groups?: string[];
  dryRun?: boolean;
}

/** A denial as kube-apiserver answers it: a Status with code, reason, message. */
export interface Denial {
  code: number;
  status: { kind: 'Status'; apiVersion: 'v1'; metadata: Record<string, never>; status: 'Failure'; reason: string; message: string; code: number; details: { name: string; group: string; kind: string; causes: { message: string }[] } };
}

interface Program {
  source: string;
  eval: (bindings: Record<string, unknown>) => CelValue | Error;
  /** `variables.<name>` this expression reads. */
  variables: Set<string>;
}

interface ResourceRule {
  apiGroups: string[];
  apiVersions: string[];
  operations: string[];
  resources: string[];
}

export interface AdmissionPolicy {
  name: string;
  bindingName: string;
  failurePolicy: 'Fail' | 'Ignore';
  rules: ResourceRule[];
  matchConditions: { name: string; program: Program }[];
  variables: { name: string; program: Program }[];
  validations: { program: Program; message?: string; messageExpression?: Program; reason?: string }[];
  actions: string[];
}

/** CEL's operators and macros the planner implements itself (they are not in the function registry). */
const BUILTIN_OPERATORS = new Set(['_&&_', '_||_', '_?_:_', '_[_]', '@not_strictly_false', 'has']);

/** The fields of the typed variables (compile.go `buildRequestType`, `BuildNamespaceType`); `*` is dyn/map/list. */
type Shape = { [field: string]: Shape } | '*';
const GVK: Shape = { group: '*', version: '*', kind: '*' };
const GVR: Shape = { group: '*', version: '*', resource: '*' };
const REQUEST: Shape = {
  kind: GVK,
  resource: GVR,
  subResource: '*',
  requestKind: GVK,
  requestResource: GVR,
  requestSubResource: '*',
  name: '*',
  namespace: '*',
  operation: '*',
  userInfo: { username: '*', uid: '*', groups: '*', extra: '*' },
  dryRun: '*',
  options: '*',
};
const NAMESPACE: Shape = {
  metadata: { name: '*', generateName: '*', namespace: '*', labels: '*', annotations: '*', UID: '*', creationTimestamp: '*', deletionGracePeriodSeconds: '*', deletionTimestamp: '*', generation: '*', resourceVersion: '*', finalizers: '*' },
  spec: { finalizers: '*' },
  status: { conditions: '*', phase: '*' },
};
const TYPED: Record<string, Shape> = { request: REQUEST, namespaceObject: NAMESPACE, object: '*', oldObject: '*', variables: '*' };

const env = celEnv();

export class CelCompileError extends Error {}

// biome-ignore lint/suspicious/noExplicitAny: the parsed CEL AST (cel.expr.Expr) is walked structurally.
type Expr = any;

/** The select chain `a.b.c` as ['a','b','c'] when it is rooted at an identifier, else undefined. */
function chainOf(e: Expr): string[] | undefined {
  if (e.exprKind.case === 'identExpr') return [e.exprKind.value.name];
  if (e.exprKind.case === 'selectExpr') {
    const base = chainOf(e.exprKind.value.operand);
    return base ? [...base, e.exprKind.value.field] : undefined;
  }
  return undefined;
}

/** The checks a CEL compile (parse + type check) makes that matter here: identifiers, functions, typed fields. */
function checkExpr(e: Expr, declared: Set<string>, scope: Set<string>, variables: Set<string>, where: string): void {
  const fail = (what: string) => {
    throw new CelCompileError(`${where}: compilation failed: ERROR: ${what}`);
  };
  const k = e.exprKind;
  switch (k.case) {
    case 'constExpr':
      return;
    case 'identExpr':
      if (!scope.has(k.value.name) && !declared.has(k.value.name)) fail(`undeclared reference to '${k.value.name}'`);
      return;
    case 'selectExpr': {
      const chain = chainOf(e);
      if (chain && !scope.has(chain[0]!)) {
        let shape: Shape | undefined = TYPED[chain[0]!];
        if (chain[0] === 'variables' && chain.length > 1) {
          if (!declared.has(`variables.${chain[1]}`)) fail(`undefined field '${chain[1]}' (variables)`);
          variables.add(chain[1]!);
        } else {
          for (const f of chain.slice(1)) {
            if (shape === '*' || shape === undefined) break;
            if (!(f in shape)) fail(`undefined field '${f}'`);
            shape = shape[f];
          }
        }
      }
      checkExpr(k.value.operand, declared, scope, variables, where);
      return;
    }
    case 'callExpr':
      if (!BUILTIN_OPERATORS.has(k.value.function) && env.funcs.find(k.value.function) === undefined) fail(`undeclared reference to '${k.value.function}'`);
      if (k.value.target) checkExpr(k.value.target, declared, scope, variables, where);
      for (const a of k.value.args) checkExpr(a, declared, scope, variables, where);
      return;
    case 'listExpr':
      for (const x of k.value.elements) checkExpr(x, declared, scope, variables, where);
      return;
    case 'structExpr':
      for (const entry of k.value.entries) {
        if (entry.keyKind.case === 'mapKey') checkExpr(entry.keyKind.value, declared, scope, variables, where);
        checkExpr(entry.value, declared, scope, variables, where);
      }
      return;
    case 'comprehensionExpr': {
      const c = k.value;
      checkExpr(c.iterRange, declared, scope, variables, where);
      checkExpr(c.accuInit, declared, scope, variables, where);
      const inner = new Set([...scope, c.iterVar, c.accuVar, ...(c.iterVar2 ? [c.iterVar2] : [])]);
      for (const x of [c.loopCondition, c.loopStep, c.result]) checkExpr(x, declared, inner, variables, where);
      return;
    }
    default:
      fail(`unsupported expression ${k.case}`);
  }
}

/** Integral JSON numbers are CEL ints (an unstructured object's numbers are int64 when integral). */
function toCel(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(toCel);
  if (typeof v === 'object') return new Map(Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).map(([key, x]) => [key, toCel(x)]));
  return v;
}

function compile(source: string, where: string, declaredVariables: Set<string>): Program {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (e) {
    throw new CelCompileError(`${where}: compilation failed: ERROR: ${(e as Error).message}`);
  }
  const variables = new Set<string>();
  const declared = new Set(['object', 'oldObject', 'request', 'namespaceObject', 'variables', ...[...declaredVariables].map((v) => `variables.${v}`)]);
  checkExpr(parsed.expr, declared, new Set(), variables, where);
  const run = plan(env, parsed);
  return {
    source,
    variables,
    eval: (bindings) => {
      try {
        return run(bindings as never);
      } catch (e) {
        return e as Error;
      }
    },
  };
}

interface PolicyDoc {
  kind: string;
  metadata: { name: string };
  spec: {
    failurePolicy?: 'Fail' | 'Ignore';
    paramKind?: unknown;
    matchConstraints?: { resourceRules?: ResourceRule[]; excludeResourceRules?: unknown; namespaceSelector?: unknown; objectSelector?: unknown; matchPolicy?: string };
    matchConditions?: { name: string; expression: string }[];
    variables?: { name: string; expression: string }[];
    validations?: { expression: string; message?: string; messageExpression?: string; reason?: string }[];
    auditAnnotations?: unknown;
    policyName?: string;
    validationActions?: string[];
    paramRef?: unknown;
    matchResources?: unknown;
  };
}

/** Loads and compiles a policy file (one ValidatingAdmissionPolicy and its binding). A CEL error throws. */
export function loadAdmissionPolicy(file = 'deploy/confine.yaml'): AdmissionPolicy {
  return compilePolicy(readFileSync(file, 'utf8'), file);
}

export function compilePolicy(text: string, file = 'policy'): AdmissionPolicy {
  const docs = parseAllDocuments(text).map((d) => d.toJS() as PolicyDoc);
  const policy = docs.find((d) => d.kind === 'ValidatingAdmissionPolicy');
  const binding = docs.find((d) => d.kind === 'ValidatingAdmissionPolicyBinding' && d.spec.policyName === policy?.metadata.name);
  if (!policy || !binding) throw new Error(`${file}: a ValidatingAdmissionPolicy and a binding naming it are needed`);
  const s = policy.spec;
  const unsupported = [
    s.paramKind && 'paramKind',
    s.matchConstraints?.excludeResourceRules && 'excludeResourceRules',
    s.matchConstraints?.namespaceSelector && Object.keys(s.matchConstraints.namespaceSelector).length > 0 && 'namespaceSelector',
    s.matchConstraints?.objectSelector && Object.keys(s.matchConstraints.objectSelector).length > 0 && 'objectSelector',
    s.auditAnnotations && 'auditAnnotations',
    binding.spec.paramRef && 'binding paramRef',
    binding.spec.matchResources && 'binding matchResources',
  ].filter(Boolean);
  if (unsupported.length > 0) throw new Error(`${file}: the façade's admission does not implement ${unsupported.join(', ')}; implement it before relying on it`);
  const where = (what: string) => `${file}: ValidatingAdmissionPolicy ${policy.metadata.name} ${what}`;
  const declared = new Set<string>();
  const variables = (s.variables ?? []).map((v, i) => {
    const program = compile(v.expression, where(`spec.variables[${i}].expression`), declared);
    declared.add(v.name); // a variable may use the ones before it
    return { name: v.name, program };
  });
  return {
    name: policy.metadata.name,
    bindingName: binding.metadata.name,
    failurePolicy: s.failurePolicy ?? 'Fail',
    rules: s.matchConstraints?.resourceRules ?? [],
    matchConditions: (s.matchConditions ?? []).map((m, i) => ({ name: m.name, program: compile(m.expression, where(`spec.matchConditions[${i}].expression`), new Set()) })),
    variables,
    validations: (s.validations ?? []).map((v, i) => ({
      program: compile(v.expression, where(`spec.validations[${i}].expression`), declared),
      ...(v.messageExpression ? { messageExpression: compile(v.messageExpression, where(`spec.validations[${i}].messageExpression`), declared) } : {}),
      ...(v.message ? { message: v.message } : {}),
      ...(v.reason ? { reason: v.reason } : {}),
    })),
    actions: binding.spec.validationActions ?? [],
  };
}

/** matchConstraints.resourceRules (admission rule matching: `*`, `x/*`, `*\/sub`, subresources named apart). */
function matches(p: AdmissionPolicy, a: AdmissionAttributes): boolean {
  const resource = a.subResource ? `${a.resource.resource}/${a.subResource}` : a.resource.resource;
  const [res, sub] = [a.resource.resource, a.subResource ?? ''];
  return p.rules.some(
    (r) =>
      (r.operations.includes('*') || r.operations.includes(a.operation)) &&
      (r.apiGroups.includes('*') || r.apiGroups.includes(a.resource.group)) &&
      (r.apiVersions.includes('*') || r.apiVersions.includes(a.resource.version)) &&
      r.resources.some((x) => x === '*' || x === resource || (x === `${res}/*` && sub !== '') || (x === '*/*') || (x.startsWith('*/') && x.slice(2) === sub)),
  );
}

/** The AdmissionRequest as SchemalessTypedToVal shows it: omitempty fields absent when empty. */
function requestOf(a: AdmissionAttributes): Record<string, unknown> {
  return {
    kind: a.kind,
    resource: a.resource,
    ...(a.subResource ? { subResource: a.subResource } : {}),
    requestKind: a.kind,
    requestResource: a.resource,
    ...(a.subResource ? { requestSubResource: a.subResource } : {}),
    ...(a.name ? { name: a.name } : {}),
    ...(a.namespace ? { namespace: a.namespace } : {}),
    operation: a.operation,
    userInfo: { username: a.username, ...(a.groups?.length ? { groups: a.groups } : {}) },
    dryRun: a.dryRun ?? false,
  };
}

const errorText = (v: CelValue | Error): string | undefined => (isCelError(v) || v instanceof Error ? (v as Error).message : undefined);

/**
 * Evaluates the policy on one write: undefined when admitted, else the Status kube-apiserver answers.
 * `namespaceObject` is the live Namespace of a namespaced request (undefined when it does not exist).
 */
export function admit(p: AdmissionPolicy, a: AdmissionAttributes, namespaceOf: (name: string) => unknown): Denial | undefined {
  if (!matches(p, a)) return undefined;
  const isNamespace = a.kind.group === '' && a.kind.version === 'v1' && a.kind.kind === 'Namespace';
  const nsName = isNamespace ? undefined : a.namespace;
  const bindings: Record<string, unknown> = {
    object: toCel(a.object),
    oldObject: toCel(a.oldObject),
    request: toCel(requestOf(a)),
    namespaceObject: nsName ? toCel(namespaceOf(nsName) ?? null) : null,
  };
  const onError = (message: string) => (p.failurePolicy === 'Fail' ? deny(p, a, message, undefined) : undefined);
  for (const m of p.matchConditions) {
    const r = m.program.eval({ ...bindings, variables: new Map() });
    const err = errorText(r);
    if (err !== undefined) return onError(`failed to evaluate matchCondition ${m.name}: ${err}`);
    if (r !== true) return undefined; // any false matchCondition skips the policy
  }
  // Variables are lazy in kube (composition): an erroring one fails only the expressions that read it.
  const values = new Map<string, unknown>();
  const errors = new Map<string, string>();
  for (const v of p.variables) {
    const reads = [...v.program.variables].find((x) => errors.has(x));
    if (reads) {
      errors.set(v.name, errors.get(reads)!);
      continue;
    }
    const r = v.program.eval({ ...bindings, variables: new Map(values) });
    const err = errorText(r);
    if (err !== undefined) errors.set(v.name, err);
    else values.set(v.name, r);
  }
  const vars = { ...bindings, variables: new Map(values) };
  for (const v of p.validations) {
    const broken = [...v.program.variables].find((x) => errors.has(x));
    const r = broken ? new Error(errors.get(broken)) : v.program.eval(vars);
    const err = errorText(r);
    if (err !== undefined) {
      const d = onError(`expression '${v.program.source.trim()}' resulted in error: ${err}`);
      if (d) return d;
      continue;
    }
    if (r === true) continue;
    let message: string | undefined;
    if (v.messageExpression && ![...v.messageExpression.variables].some((x) => errors.has(x))) {
      const m = v.messageExpression.eval(vars);
      if (typeof m === 'string' && m.trim() !== '' && !m.includes('\n')) message = m.trim();
    }
    message ??= v.message?.trim() || `failed expression: ${v.program.source.trim()}`;
    return deny(p, a, message, v.reason ?? 'Invalid');
  }
  return undefined;
}

/** admission.NewForbidden with the dispatcher's reason and code (reason unset: Invalid, 422). */
function deny(p: AdmissionPolicy, a: AdmissionAttributes, decision: string, reason: string | undefined): Denial | undefined {
  if (!p.actions.includes('Deny')) return undefined; // Warn/Audit only: admitted
  const r = reason ?? 'Invalid';
  const code = r === 'Forbidden' ? 403 : r === 'Unauthorized' ? 401 : r === 'RequestEntityTooLarge' ? 413 : 422;
  const inner = `ValidatingAdmissionPolicy '${p.name}' with binding '${p.bindingName}' denied request: ${decision}`;
  const name = a.name || ((a.object as { metadata?: { name?: string; generateName?: string } } | null)?.metadata?.name ?? (a.object as { metadata?: { generateName?: string } } | null)?.metadata?.generateName ?? 'Unknown');
  const qualified = a.resource.group ? `${a.resource.resource}.${a.resource.group}` : a.resource.resource;
  // apimachinery errors.NewForbidden: `<resource>.<group> "<name>" is forbidden: <err>`.
  const message = `${qualified} "${name}" is forbidden: ${inner}`;
  return {
    code,
    status: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: r, message, code, details: { name, group: a.resource.group, kind: a.resource.resource, causes: [{ message: inner }] } },
  };
}
