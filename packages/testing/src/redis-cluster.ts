// A Redis Cluster of the test's own: redis-server processes with cluster mode on free ports,
// joined by `redis-cli --cluster create`, and the operations a fault scenario needs on it (find
// the master of a slot, kill or freeze a node, wait for a failover, move a slot while traffic
// flows). Every wait is bounded polling on what the nodes themselves report, never a sleep.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './redis-server.ts';

export interface ClusterNode {
  port: number;
  /** redis://[:password@]127.0.0.1:port */
  url: string;
  /** The node's cluster id (CLUSTER MYID). */
  id: string;
  process: ChildProcess;
  /** False once SIGKILLed (or exited); a frozen node is alive but `frozen`. */
  readonly alive: boolean;
  readonly frozen: boolean;
}

export interface SlotMove {
  /** Keys moved with MIGRATE. */
  keys: number;
  batches: number;
}

export interface ScratchCluster {
  nodes: ClusterNode[];
  /** A REDIS_CLUSTER_NODES value naming one seed node (the first master by default). */
  seeds(node?: ClusterNode): string;
  /** The slot of a key, as the Cluster computes it (CLUSTER KEYSLOT). */
  slotOf(key: string): Promise<number>;
  /** The node every reachable node names as the slot's master (throws if they disagree). */
  masterOf(slot: number): Promise<ClusterNode>;
  /** The nodes that are masters with slots, as the reachable nodes see it. */
  masters(): Promise<ClusterNode[]>;
  /** The replicas of a master, as the master itself reports them. */
  replicasOf(master: ClusterNode): Promise<ClusterNode[]>;
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(node: ClusterNode): Promise<void>;
  /** SIGSTOP / SIGCONT: the node keeps its sockets but answers nothing meanwhile. */
  freeze(node: ClusterNode): void;
  thaw(node: ClusterNode): void;
  /**
   * Freezes a replica and has its master drop the replication link, so nothing the master
   * acknowledges from now on reaches it: the window asynchronous replication leaves open,
   * held open. (A frozen replica alone still receives the stream into its socket buffer and
   * catches up when thawed.) `thaw` lets it run again; it cannot resync from a dead master.
   */
  cutOff(replica: ClusterNode): Promise<void>;
  /**
   * Resolves with the new master once every reachable node names a live node other than
   * `former` as the master of `slot` and reports cluster_state:ok.
   */
  waitForNewMaster(slot: number, former: ClusterNode, timeoutMs?: number): Promise<ClusterNode>;
  /** Resolves once every reachable node reports cluster_state:ok and they agree on all slots. */
  waitForOk(timeoutMs?: number): Promise<void>;
  /**
   * Moves a slot and its keys to `to` as `redis-cli --cluster reshard` does: IMPORTING on the
   * target, MIGRATING on the source, MIGRATE in batches of `batch` keys, then the new owner
   * announced to every master. `between` runs before each batch (e.g. to let traffic flow).
   */
  moveSlot(
    slot: number,
    to: ClusterNode,
    options?: { batch?: number; between?: (batch: number) => Promise<void> },
  ): Promise<SlotMove>;
  /** Stops every node and removes their data. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  masters?: number;
  /** Replicas per master (0: none). */
  replicas?: number;
  /** cluster-node-timeout: how long a node must be unreachable before failover starts. */
  nodeTimeoutMs?: number;
  /** requirepass (and masterauth) of every node; `url`s and `seeds()` carry it. */
  password?: string;
  /** Extra redis-server arguments for every node. */
  args?: string[];
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One command on one node over a short-lived connection that never retries or waits long. */
async function ask(
  port: number | { port: number; password?: string | undefined },
  ...args: (string | number)[]
): Promise<unknown> {
  const node = typeof port === 'number' ? { port } : port;
  const redis = new Redis({
    host: '127.0.0.1',
    port: node.port,
    ...(node.password ? { password: node.password } : {}),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1_000,
    commandTimeout: 5_000,
    enableOfflineQueue: true,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    const [command, ...rest] = args;
    return await redis.call(String(command), ...rest);
  } finally {
    redis.disconnect();
  }
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`, { cause: last });
    await pause(50);
  }
}

/** CLUSTER SLOTS as [first, last, master port, master id]. */
type SlotRange = [number, number, number, string];

function slotRanges(reply: unknown): SlotRange[] {
  return (reply as [number, number, [string, number, string]][]).map(([first, last, master]) => [
    first,
    last,
    master[1],
    master[2],
  ]);
}

/**
 * Starts `masters` × (1 + `replicas`) nodes and joins them into one Cluster; resolves once
 * every node reports cluster_state:ok. Needs `redis-server` and `redis-cli` on PATH.
 */
export async function startRedisCluster(options: ClusterOptions = {}): Promise<ScratchCluster> {
  const masters = options.masters ?? 3;
  const password = options.password;
  const at = (port: number) => ({ port, password });
  const auth = password ? ['--requirepass', password, '--masterauth', password] : [];
  const replicas = options.replicas ?? 0;
  const dir = mkdtempSync(join(tmpdir(), 'calhook-cluster-'));
  const nodes: ClusterNode[] = [];
  const frozen = new Set<number>();
  for (let i = 0; i < masters * (1 + replicas); i++) {
    const port = await freePort();
    // The bus port is chosen too: by default it is port + 10000, past 65535 for a free port
    // above 55535, and Redis would refuse to start.
    let busPort = await freePort();
    while (busPort === port) busPort = await freePort();
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--dbfilename',
        `dump-${port}.rdb`,
        '--save',
        '',
        '--appendonly',
        'no',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-port',
        String(busPort),
        '--cluster-node-timeout',
        String(options.nodeTimeoutMs ?? 5_000),
        ...auth,
        ...(options.args ?? []),
      ],
      { stdio: 'ignore' },
    );
    running.add(child);
    let alive = true;
    child.once('exit', () => {
      alive = false;
      running.delete(child);
    });
    await waitFor(`redis-server on ${port}`, 10_000, async () =>
      (await ask(at(port), 'PING')) === 'PONG' ? true : undefined,
    );
    const id = String(await ask(at(port), 'CLUSTER', 'MYID'));
    nodes.push({
      port,
      url: `redis://${password ? `:${encodeURIComponent(password)}@` : ''}127.0.0.1:${port}`,
      id,
      process: child,
      get alive() {
        return alive && child.exitCode === null && child.signalCode === null;
      },
      get frozen() {
        return frozen.has(port);
      },
    });
  }
  const created = spawnSync(
    'redis-cli',
    [
      '--cluster',
      'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
      ...(password ? ['-a', password, '--no-auth-warning'] : []),
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (created.status !== 0) {
    throw new Error(`redis-cli --cluster create failed:\n${created.stdout}\n${created.stderr}`);
  }

  const reachable = () => nodes.filter((n) => n.alive && !n.frozen);
  const byId = (id: string) => {
    const node = nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  };

  /** The slot map every reachable node reports, or undefined while they disagree. */
  async function agreedRanges(): Promise<SlotRange[] | undefined> {
    const views = await Promise.all(
      reachable().map(async (n) =>
        JSON.stringify(
          slotRanges(await ask(at(n.port), 'CLUSTER', 'SLOTS')).sort((a, b) => a[0] - b[0]),
        ),
      ),
    );
    if (new Set(views).size !== 1 || views[0] === undefined) return undefined;
    return JSON.parse(views[0]) as SlotRange[];
  }

  async function allOk(): Promise<boolean> {
    const infos = await Promise.all(
      reachable().map(async (n) => String(await ask(at(n.port), 'CLUSTER', 'INFO'))),
    );
    return infos.every((info) => info.includes('cluster_state:ok'));
  }

  const cluster: ScratchCluster = {
    nodes,
    seeds: (node) => (node ?? nodes[0] ?? { url: '' }).url,
    async slotOf(key) {
      const node = reachable()[0];
      if (!node) throw new Error('no reachable node');
      return Number(await ask(at(node.port), 'CLUSTER', 'KEYSLOT', key));
    },
    async masterOf(slot) {
      const ranges = await waitFor('the nodes to agree on the slot map', 10_000, agreedRanges);
      const range = ranges.find(([first, last]) => first <= slot && slot <= last);
      if (!range) throw new Error(`slot ${slot} has no master`);
      return byId(range[3]);
    },
    async masters() {
      const ranges = await waitFor('the nodes to agree on the slot map', 10_000, agreedRanges);
      return [...new Set(ranges.map((r) => r[3]))].map(byId);
    },
    async replicasOf(master) {
      const reply = String(await ask(at(master.port), 'CLUSTER', 'NODES'));
      return reply
        .split('\n')
        .map((line) => line.split(' '))
        .filter((fields) => fields[3] === master.id && fields[2]?.includes('slave'))
        .map((fields) => byId(fields[0] as string));
    },
    kill(node) {
      return new Promise((resolve) => {
        if (!node.alive) return resolve();
        node.process.once('exit', () => resolve());
        node.process.kill('SIGKILL');
      });
    },
    freeze(node) {
      node.process.kill('SIGSTOP');
      frozen.add(node.port);
    },
    thaw(node) {
      node.process.kill('SIGCONT');
      frozen.delete(node.port);
    },
    async cutOff(replica) {
      const role = (await ask(at(replica.port), 'ROLE')) as [string, string, number];
      if (role[0] !== 'slave') throw new Error(`node ${replica.port} is not a replica`);
      const masterPort = Number(role[2]);
      cluster.freeze(replica);
      await ask(at(masterPort), 'CLIENT', 'KILL', 'TYPE', 'replica');
      await waitFor('the master to drop its replica', 5_000, async () =>
        /connected_slaves:0\r?\n/.test(String(await ask(at(masterPort), 'INFO', 'replication')))
          ? true
          : undefined,
      );
    },
    async waitForNewMaster(slot, former, timeoutMs = 30_000) {
      return waitFor(`a new master of slot ${slot}`, timeoutMs, async () => {
        const ranges = await agreedRanges();
        const range = ranges?.find(([first, last]) => first <= slot && slot <= last);
        if (!range || range[3] === former.id) return undefined;
        const master = byId(range[3]);
        if (!master.alive || master.frozen || !(await allOk())) return undefined;
        return master;
      });
    },
    async waitForOk(timeoutMs = 30_000) {
      await waitFor('cluster_state:ok on every node', timeoutMs, async () =>
        (await allOk()) && (await agreedRanges()) ? true : undefined,
      );
    },
    async moveSlot(slot, to, moveOptions = {}) {
      const from = await cluster.masterOf(slot);
      if (from.id === to.id) return { keys: 0, batches: 0 };
      const batch = moveOptions.batch ?? 50;
      await ask(at(to.port), 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id);
      await ask(at(from.port), 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id);
      let keys = 0;
      let batches = 0;
      for (;;) {
        const found = (await ask(
          at(from.port),
          'CLUSTER',
          'GETKEYSINSLOT',
          slot,
          batch,
        )) as string[];
        if (found.length === 0) break;
        await moveOptions.between?.(batches);
        const answer = await ask(
          at(from.port),
          'MIGRATE',
          '127.0.0.1',
          to.port,
          '',
          0,
          10_000,
          ...(password ? ['AUTH', password] : []),
          'KEYS',
          ...found,
        );
        if (answer !== 'OK' && answer !== 'NOKEY') throw new Error(`MIGRATE answered ${answer}`);
        keys += found.length;
        batches += 1;
      }
      // The target first, so the slot is never owned by nobody (the order redis-cli uses).
      await ask(at(to.port), 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
      await ask(at(from.port), 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
      for (const master of await cluster.masters()) {
        if (master.id !== to.id && master.id !== from.id) {
          await ask(at(master.port), 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
        }
      }
      await cluster.waitForOk();
      return { keys, batches };
    },
    async stop() {
      for (const node of nodes) if (node.frozen) cluster.thaw(node);
      await Promise.all(nodes.map((node) => cluster.kill(node)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await cluster.waitForOk();
  return cluster;
}
