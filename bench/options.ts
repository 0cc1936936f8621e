/** The benchmark's command line (node:util parseArgs), see the header of bench/run.ts. */
import { parseArgs } from 'node:util';
import { WORKLOADS } from './workloads.js';

export type DeviceChoice = 'cpu' | 'cuda' | 'all';

export interface Options {
  threads: number | null;
  json: boolean;
  quick: boolean;
  only: string[] | null;
  /** Which rows: 'cpu', 'cuda' or 'all' (CPU, and CUDA where a usable GPU exists). */
  device: DeviceChoice;
  /**
   * --require-targets: exit with status 3 unless CUDA rows ran, every GPU target was met and the
   * CUDA results equal the CPU's (the GPU check's verdict). Off by default.
   */
  requireTargets: boolean;
  /**
   * --keep-new: the CPU `new` rows keep the tensors each run returns, for the garbage collector,
   * instead of disposing them after the run (outside the timed calls). Kept outputs only go back
   * to the memory cache when V8 collects them, so these rows then show the cost of fresh memory.
   */
  keepNew: boolean;
}

/** Parts of the benchmark that --only names besides the workloads (CPU only). */
export const CPU_PARTS = ['network', 'small', 'scaling', 'dtype'];

export const USAGE =
  'usage: node dist/bench/run.js [--threads N] [--json] [--quick] [--only mlp,conv,long,big,network,small,scaling,dtype] [--device cpu|cuda|all] [--require-targets] [--keep-new]';

/** Prints the message and the usage to stderr and exits with status 2. */
export function fail(msg: string): never {
  console.error(`bench: ${msg}\n${USAGE}`);
  process.exit(2);
}

/** The quoted name in one of parseArgs' error messages (e.g. "Unknown option '--x'. ..."). */
const quoted = (message: string): string => /'([^']*)'/.exec(message)?.[1] ?? message;

/** Reads the options; prints the usage and exits on --help, -h or any error. */
export function readOptions(argv: string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        threads: { type: 'string' },
        json: { type: 'boolean' },
        quick: { type: 'boolean' },
        only: { type: 'string', multiple: true },
        device: { type: 'string' },
        'require-targets': { type: 'boolean' },
        'keep-new': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL')
      fail(`unknown option '${quoted(err.message)}'`);
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      // "Option '--threads <value>' argument missing" or "Option '--json' does not take an argument"
      const name = quoted(err.message).split(' ')[0];
      fail(/does not take/.test(err.message) ? `${name} takes no value` : `${name} needs a value`);
    }
    throw e;
  }
  const v = parsed.values;
  if (v.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const o: Options = {
    threads: null,
    json: !!v.json,
    quick: !!v.quick,
    only: null,
    device: 'all',
    requireTargets: !!v['require-targets'],
    keepNew: !!v['keep-new'],
  };
  if (v.threads !== undefined) {
    const n = Number(v.threads);
    if (!Number.isInteger(n) || n < 1) fail(`--threads must be a positive integer`);
    o.threads = n;
  }
  for (const list of v.only ?? []) {
    const names = list
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const n of names)
      if (!CPU_PARTS.includes(n) && !WORKLOADS.some((w) => w.name === n))
        fail(
          `--only: unknown workload '${n}' (expected ${[...WORKLOADS.map((w) => w.name), ...CPU_PARTS].join(', ')})`,
        );
    o.only = [...(o.only ?? []), ...names];
  }
  if (v.device !== undefined) {
    const d = v.device.trim().toLowerCase();
    if (d !== 'cpu' && d !== 'cuda' && d !== 'all') fail(`--device must be cpu, cuda or all, got '${d}'`);
    o.device = d;
  }
  return o;
}
