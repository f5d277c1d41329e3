// The command line of the real-kernel job (the contract: `--blocks N [--vats V] [--store DIR]
// [--archive DIR] [--report FILE.svg] [--json]`), plus a few tuning flags.

export const USAGE = `usage: npm --prefix js/real-kernel run main -- --blocks N [--vats V] [--store DIR]
         [--archive DIR] [--report FILE.svg] [--json]
         [--snapshot-interval K] [--max-vats-online M] [--only snapgc|stock] [--no-sink] [--quiet]

  --blocks N             run until block N is committed (a re-run on the same --store continues
                         from the last committed block)
  --vats V               contract-like static vats (default 4)
  --store DIR            the stores (DIR/snapgc, DIR/stock); default a temp dir, removed at exit
  --archive DIR          snapgc archives swept history into DIR; stock keeps every snapshot
                         (keepSnapshots: true) to compare against
  --report FILE.svg      write the chart
  --json                 print one JSON document (exit 1 when not identical or a check failed)
  --snapshot-interval K  deliveries between a vat's snapshots (default 10)
  --max-vats-online M    xsnap workers kept online (default 4; the rest page out and in)
  --only SIDE            run one side only (no identity check; the crash test uses it)
  --no-sink              skip measuring xsnap alone at the end (a few seconds)
  --quiet                no progress lines on stderr`;

/** @param {string[]} argv */
export function parseArgs(argv) {
  const o = {
    blocks: undefined,
    vats: 4,
    store: undefined,
    archive: undefined,
    report: undefined,
    json: false,
    snapshotInterval: 10,
    maxVatsOnline: 4,
    only: undefined,
    quiet: false,
    sink: true,
  };
  const need = (i, flag) => {
    if (i + 1 >= argv.length) throw Error(`${flag} needs a value`);
    return argv[i + 1];
  };
  const int = (v, flag, min) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw Error(`${flag} must be an integer >= ${min}, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    switch (a) {
      case '--blocks':
        o.blocks = int(need(i, a), a, 1);
        i += 1;
        break;
      case '--vats':
        o.vats = int(need(i, a), a, 1);
        i += 1;
        break;
      case '--store':
        o.store = need(i, a);
        i += 1;
        break;
      case '--archive':
        o.archive = need(i, a);
        i += 1;
        break;
      case '--report':
        o.report = need(i, a);
        i += 1;
        break;
      case '--snapshot-interval':
        o.snapshotInterval = int(need(i, a), a, 1);
        i += 1;
        break;
      case '--max-vats-online':
        o.maxVatsOnline = int(need(i, a), a, 1);
        i += 1;
        break;
      case '--only': {
        const v = need(i, a);
        if (v !== 'snapgc' && v !== 'stock') throw Error(`--only takes snapgc or stock, got ${v}`);
        o.only = v;
        i += 1;
        break;
      }
      case '--json':
        o.json = true;
        break;
      case '--quiet':
        o.quiet = true;
        break;
      case '--no-sink':
        o.sink = false;
        break;
      case '-h':
      case '--help':
        o.help = true;
        break;
      default:
        throw Error(`unknown argument ${a}`);
    }
  }
  if (!o.help && o.blocks === undefined) throw Error('--blocks N is required');
  return o;
}
