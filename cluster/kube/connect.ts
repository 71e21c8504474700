// Where a cluster run connects, in kubectl's order: --kubeconfig, then KUBECONFIG, then ~/.kube/config, then the
// in-cluster service account; --context picks a context. Every mistake is one ConfigError line (exit 2).
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigError, messageOf } from '../../harness/errors.js';

export interface ConnectOptions {
  kubeconfig?: string;
  context?: string;
  env?: NodeJS.ProcessEnv;
}

export function loadKubeConfig(o: ConnectOptions): { kc: KubeConfig; source: string } {
  const env = o.env ?? process.env;
  const kc = new KubeConfig();
  let source: string;
  try {
    if (o.kubeconfig) {
      if (!existsSync(o.kubeconfig)) throw new ConfigError(`--kubeconfig ${o.kubeconfig}: no such file`);
      kc.loadFromFile(o.kubeconfig);
      source = o.kubeconfig;
    } else if (env.KUBECONFIG) {
      loadMerged(kc, env.KUBECONFIG);
      source = `KUBECONFIG=${env.KUBECONFIG}`;
    } else if (existsSync(path.join(env.HOME ?? homedir(), '.kube', 'config'))) {
      kc.loadFromFile(path.join(env.HOME ?? homedir(), '.kube', 'config'));
      source = '~/.kube/config';
    } else if (env.KUBERNETES_SERVICE_HOST) {
      kc.loadFromCluster();
      source = 'the in-cluster service account';
    } else {
      throw new ConfigError('no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run inside a cluster');
    }
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`kubeconfig ${o.kubeconfig ?? env.KUBECONFIG ?? ''}: cannot be read: ${messageOf(e).split('\n')[0]}`.replace(/ {2}/g, ' '));
  }
  if (o.context) {
    const names = kc.getContexts().map((c) => c.name);
    if (!names.includes(o.context)) {
      throw new ConfigError(`context ${o.context} is not in ${source} (available: ${names.join(', ') || 'none'})`);
    }
    kc.setCurrentContext(o.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!kc.getCurrentContext() || !cluster) throw new ConfigError(`${source}: no current context with a cluster (use --context)`);
  if (!/^https?:\/\//.test(cluster.server)) throw new ConfigError(`${source}: cluster ${cluster.name} has no usable server URL (${JSON.stringify(cluster.server)})`);
  return { kc, source };
}

/**
 * KUBECONFIG as kubectl reads it (client-go tools/clientcmd/loader.go, ClientConfigLoadingRules.Load): every file
 * of the list, missing ones skipped; the first file to set a cluster, user or context name wins, and so does the
 * first current-context. (client-node's loadFromDefault lets the last current-context win and throws on a name
 * two files share.)
 */
function loadMerged(kc: KubeConfig, list: string): void {
  const files = list.split(path.delimiter).filter((f) => f !== '' && existsSync(f));
  if (files.length === 0) throw new ConfigError(`KUBECONFIG ${list}: no such file`);
  const clusters = new Map<string, KubeConfig['clusters'][number]>();
  const users = new Map<string, KubeConfig['users'][number]>();
  const contexts = new Map<string, KubeConfig['contexts'][number]>();
  let current = '';
  for (const f of files) {
    const one = new KubeConfig();
    one.loadFromFile(f);
    for (const c of one.clusters) if (!clusters.has(c.name)) clusters.set(c.name, c);
    for (const u of one.users) if (!users.has(u.name)) users.set(u.name, u);
    for (const c of one.contexts) if (!contexts.has(c.name)) contexts.set(c.name, c);
    if (!current && one.currentContext) current = one.currentContext;
  }
  kc.loadFromOptions({ clusters: [...clusters.values()], users: [...users.values()], contexts: [...contexts.values()], currentContext: current });
}
