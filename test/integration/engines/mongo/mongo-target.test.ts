import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isConfigError, isRestoreError, isSourceUnavailableError } from '../../../../src/core/errors.js';
import { MongoSource } from '../../../../src/engines/mongo/source.js';
import { MongoTarget } from '../../../../src/engines/mongo/target.js';
import { resolveConfig } from '../../../../src/app/config.js';
import { restoreWithChecklist } from '../../../../src/ops/checklist-restore.js';
import { readRestoreRecord, rollbackRestore } from '../../../../src/ops/restore-points.js';
import { createBackupPlan } from '../../../../src/plan/backup-plan.js';
import type { RestoreInput } from '../../../../src/contracts/types.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { restoreInputFor } from '../../../helpers/restore-input.js';

// MongoDB cannot be installed on the test machines: these fakes stand in for the Database Tools
// and mongosh. They record what a real tool would see (argv as /proc/<pid>/cmdline shows it, the
// mode of the config file, every byte on stdin, the environment mongosh gets) and answer the way
// the real tools do (`--version`, the per-collection and summary lines on stderr, exit codes).
const MAGIC = Buffer.from([0x6d, 0xe2, 0x99, 0x81]);
const PASSWORD = 'pw-s3cret-Zq9';
const URI = `mongodb://admin:${PASSWORD}@127.0.0.1:27017/?authSource=admin`;

let dir: string;
let cleanup: () => Promise<void>;
let bin: { mongorestore: string; mongodump: string; mongosh: string };

const header = (d: string) => `#!/bin/sh
D="${d}"
record() {
  n=$(( $(cat "$D/n" 2>/dev/null || echo 0) + 1 )); echo $n > "$D/n"
  printf '%s\\n' "$1 $(tr '\\0' ' ' < /proc/$$/cmdline)" >> "$D/calls"
  case "$2" in --config=*) stat -c %a "\${2#--config=}" >> "$D/modes" ;; esac
}
`;

async function writeFakes(d: string): Promise<typeof bin> {
  const mongorestore = path.join(d, 'mongorestore');
  await fsp.writeFile(
    mongorestore,
    `${header(d)}
if [ "$1" = "--version" ]; then echo "mongorestore version: 100.9.4"; exit 0; fi
record mongorestore "$1"
cfg="\${1#--config=}"
cat > "$D/stdin.$n"
case " $* " in *" --gzip "*) plain="gzip -dc" ;; *) plain="cat" ;; esac
if grep -q fail-pw "$cfg" || $plain < "$D/stdin.$n" | grep -q FAIL-RESTORE; then
  echo "2026-11-29T10:00:00.000+0000	Failed: error connecting to $(cat "$cfg")" >&2; exit 1
fi
db=app
for a in "$@"; do case "$a" in --nsTo=*) db="\${a#--nsTo=}"; db="\${db%%.*}" ;; esac; done
case " $* " in *" --dryRun "*) echo "dry run completed" >&2; exit 0 ;; esac
echo "2026-11-29T10:00:00.000+0000	finished restoring $db.photos (3 documents, 0 failures)" >&2
echo "2026-11-29T10:00:00.000+0000	finished restoring $db.albums (2 documents, 0 failures)" >&2
echo "2026-11-29T10:00:00.000+0000	5 document(s) restored successfully. 0 document(s) failed to restore." >&2
`,
    { mode: 0o755 },
  );
  const mongodump = path.join(d, 'mongodump');
  await fsp.writeFile(
    mongodump,
    `${header(d)}
if [ "$1" = "--version" ]; then echo "mongodump version: 100.9.4"; exit 0; fi
record mongodump "$1"
if grep -q dump-fails "$D/dump-output"; then echo "Failed: $(cat "\${1#--config=}")" >&2; exit 2; fi
cat "$D/dump-output"
`,
    { mode: 0o755 },
  );
  const mongosh = path.join(d, 'mongosh');
  await fsp.writeFile(
    mongosh,
    `${header(d)}
if [ "$1" = "--version" ]; then echo "2.2.5"; exit 0; fi
record mongosh "$1"
printf '%s\\n' "$DK_MONGO_URI" > "$D/mongosh-uri"
printf '%s\\n' "$DK_MONGO_DROP" > "$D/mongosh-drop"
eval "last=\\\${$#}"; cp "$last" "$D/mongosh-script"
echo '{"app'"$DK_MONGO_SUFFIX"'":{"photos":3,"albums":2}}'
`,
    { mode: 0o755 },
  );
  return { mongorestore, mongodump, mongosh };
}

async function calls(): Promise<string[]> {
  return (await fsp.readFile(path.join(dir, 'calls'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
}
async function stdinOf(n: number): Promise<Buffer> {
  return fsp.readFile(path.join(dir, `stdin.${n}`));
}

/** A gzipped "archive" produced through MongoSource, as a backup would have it. */
async function backup(
  content: Buffer,
  options: { gzip?: boolean; database?: string | null } = {},
): Promise<{ input: RestoreInput; bytes: Buffer }> {
  const gzip = options.gzip ?? true;
  const gz = gzip ? gzipSync(content) : content;
  await fsp.writeFile(path.join(dir, 'dump-output'), gz);
  const work = path.join(dir, 'staging');
  const database = options.database === undefined ? 'app' : options.database;
  const source = new MongoSource({
    uri: URI,
    ...(database ? { database } : {}),
    gzip,
    mongodumpBinary: bin.mongodump,
  });
  const prepared = await source.prepare(makeContext(work, 'mongodb'));
  await fsp.rm(path.join(dir, 'calls'));
  await fsp.rm(path.join(dir, 'n'));
  await fsp.rm(path.join(dir, 'modes'));
  return { input: restoreInputFor(source, prepared, work), bytes: gz };
}

function target(extra: Partial<ConstructorParameters<typeof MongoTarget>[0]> = {}): MongoTarget {
  return new MongoTarget({
    uri: URI,
    mongorestoreBinary: bin.mongorestore,
    mongodumpBinary: bin.mongodump,
    mongoshBinary: bin.mongosh,
    ...extra,
  });
}

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('dk-mongo-target-'));
  bin = await writeFakes(dir);
});
afterEach(() => cleanup());

describe('MongoTarget', () => {
  it('validates its options and is a target type of config files', async () => {
    const issues = (options: object): string[] => {
      try {
        new MongoTarget(options as never);
      } catch (e) {
        expect(isConfigError(e)).toBe(true);
        return (e as { issues: { path: string }[] }).issues.map((i) => i.path);
      }
      throw new Error('expected a ConfigError');
    };
    expect(issues({ uri: 'http://x', scratch: 'yes', bogus: 1 })).toEqual(expect.arrayContaining(['uri', 'scratch']));
    expect(issues({ uri: URI, uriFile: '/x' })).toEqual(['uri']);
    expect(issues({})).toEqual(['uri']);
    const cfg = await resolveConfig({
      workDir: path.join(dir, 'staging'),
      sources: [{ type: 'mongodb', uri: URI }],
      restore: { targets: [{ type: 'mongodb', uriFile: '/root/.mongo-uri', scratch: true }] },
    });
    expect(cfg.targets[0]).toBeInstanceOf(MongoTarget);
    expect(cfg.targets[0]?.accepts({ kind: 'mongodb', name: 'mongodb' } as never)).toBe(true);
    expect(cfg.targets[0]?.accepts({ kind: 'mysql', name: 'mongodb' } as never)).toBe(false);
  });

  it('without the tools, verify and restore fail naming mongorestore and the MongoDB Database Tools, touching nothing', async () => {
    const { input } = await backup(Buffer.concat([MAGIC, randomBytes(100)]));
    const missing = target({ mongorestoreBinary: path.join(dir, 'no-mongorestore') });
    const ctx = makeContext(path.join(dir, 'restore-work'), 'mongodb');
    for (const run of [() => missing.verify(input, ctx), () => missing.restore(input, ctx)]) {
      const err = await run().catch((e: unknown) => e);
      expect(isSourceUnavailableError(err)).toBe(true);
      expect((err as Error).message).toMatch(/no-mongorestore was not found.*MongoDB Database Tools/);
      expect((err as Error).message).not.toContain(PASSWORD);
    }
    const noDump = await target({ mongodumpBinary: path.join(dir, 'no-mongodump') })
      .restore(input, ctx)
      .catch((e: unknown) => e);
    expect((noDump as Error).message).toMatch(/no-mongodump was not found.*safety copy needs mongodump/);
    expect(await calls()).toEqual([]);
    expect(await fsp.readdir(ctx.sourceDir).catch(() => [])).toEqual([]);
  });

  it('verify checks the magic number and dry-runs mongorestore on the exact artifact bytes', async () => {
    const { input, bytes } = await backup(Buffer.concat([MAGIC, randomBytes(300_000)]));
    const report = await target().verify(input, makeContext(path.join(dir, 'rw'), 'mongodb'));
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => [c.name, c.ok, c.detail])).toEqual([
      ['mongorestore', true, 'mongorestore 100.9.4'],
      ['archive', true, 'mongodump archive (gzip)'],
      ['dry-run', true, 'mongorestore --dryRun read the archive'],
    ]);
    const [call] = await calls();
    expect(call).toMatch(
      /^mongorestore .*mongorestore --config=\S+tool\.yaml --archive --dryRun --gzip --nsInclude=app\.\* $/,
    );
    expect(call).not.toContain(PASSWORD);
    expect((await stdinOf(1)).equals(bytes)).toBe(true);
    expect(await fsp.readFile(path.join(dir, 'modes'), 'utf8')).toBe('600\n');

    const { input: plain, bytes: plainBytes } = await backup(Buffer.concat([MAGIC, randomBytes(1000)]), {
      gzip: false,
      database: null,
    });
    const plainReport = await target().verify(plain, makeContext(path.join(dir, 'rw'), 'mongodb'));
    expect(plainReport.checks.map((c) => [c.name, c.ok, c.detail])).toEqual([
      ['mongorestore', true, 'mongorestore 100.9.4'],
      ['archive', true, 'mongodump archive'],
      ['dry-run', true, 'mongorestore --dryRun read the archive'],
    ]);
    expect((await calls())[0]).toMatch(/ --config=\S+ --archive --dryRun $/);
    expect((await stdinOf(1)).equals(plainBytes)).toBe(true);

    const { input: bad } = await backup(Buffer.from('PK\x03\x04 not an archive'));
    const badReport = await target().verify(bad, makeContext(path.join(dir, 'rw'), 'mongodb'));
    expect(badReport.ok).toBe(false);
    expect(badReport.checks.find((c) => c.name === 'archive')?.detail).toBe(
      'not a mongodump archive (starts with 504b0304)',
    );
    expect(await calls()).toEqual([]);
  });

  it('restores live after a safety dump, streams the artifact bytes, and finalize removes the safety copy', async () => {
    const { input, bytes } = await backup(Buffer.concat([MAGIC, randomBytes(500_000)]));
    const safetyBytes = gzipSync(Buffer.concat([MAGIC, Buffer.from('the data before the restore')]));
    await fsp.writeFile(path.join(dir, 'dump-output'), safetyBytes);
    const ctx = makeContext(path.join(dir, 'rw'), 'mongodb');
    const t = target();
    const out = await t.restore(input, ctx);

    const list = await calls();
    expect(list).toHaveLength(2);
    expect(list[0]).toMatch(/^mongodump .* --config=\S+ --archive --gzip --db=app $/);
    expect(list[1]).toMatch(/^mongorestore .* --config=\S+ --archive --drop --gzip --nsInclude=app\.\* $/);
    expect(list.join('\n')).not.toContain(PASSWORD);
    expect(await fsp.readFile(path.join(dir, 'modes'), 'utf8')).toBe('600\n600\n');
    expect((await stdinOf(2)).equals(bytes)).toBe(true);

    expect(out.restored).toEqual(['mongodb database app']);
    expect(out.metadata).toMatchObject({
      database: 'app',
      documents: 5,
      namespaces: { 'app.photos': 3, 'app.albums': 2 },
      mongorestoreVersion: '100.9.4',
    });
    const safety = String(out.safetyCopy);
    expect(path.dirname(safety)).toBe(ctx.sourceDir);
    expect((await fsp.readFile(safety)).equals(safetyBytes)).toBe(true);
    expect((await fsp.stat(safety)).mode & 0o777).toBe(0o600);

    await t.finalize(out, ctx);
    await expect(fsp.stat(safety)).rejects.toThrow(/ENOENT/);

    const kept = target({ keepSafetyCopy: true });
    const out2 = await kept.restore(input, ctx);
    await kept.finalize(out2, ctx);
    expect((await fsp.readFile(String(out2.safetyCopy))).equals(safetyBytes)).toBe(true);
  });

  it('rollback restores the safety copy with --drop, after the restore', async () => {
    const { input } = await backup(Buffer.concat([MAGIC, randomBytes(1000)]));
    const safetyBytes = gzipSync(Buffer.concat([MAGIC, Buffer.from('before')]));
    await fsp.writeFile(path.join(dir, 'dump-output'), safetyBytes);
    const ctx = makeContext(path.join(dir, 'rw'), 'mongodb');
    const t = target();
    const out = await t.restore(input, ctx);
    await t.rollback(out, ctx);
    const list = await calls();
    expect(list.map((l) => l.split(' ')[0])).toEqual(['mongodump', 'mongorestore', 'mongorestore']);
    expect(list[2]).toMatch(/ --config=\S+ --archive --drop --gzip $/);
    expect((await stdinOf(3)).equals(safetyBytes)).toBe(true);
    await expect(fsp.stat(String(out.safetyCopy))).rejects.toThrow(/ENOENT/);
  });

  it('a failed restore is rolled back from the safety copy at once, and the error carries no password', async () => {
    const { input } = await backup(Buffer.concat([MAGIC, Buffer.from('FAIL-RESTORE'), randomBytes(1000)]));
    const safetyBytes = gzipSync(Buffer.concat([MAGIC, Buffer.from('before')]));
    await fsp.writeFile(path.join(dir, 'dump-output'), safetyBytes);
    const ctx = makeContext(path.join(dir, 'rw'), 'mongodb');
    const err = await target()
      .restore(input, ctx)
      .catch((e: unknown) => e);
    expect(isRestoreError(err)).toBe(true);
    const message = (err as Error).message;
    expect(message).toMatch(/mongorestore failed \(exit 1\)/);
    expect(message).toMatch(/error connecting to uri: "\*\*\*"/);
    expect(message).toMatch(/the previous data was restored from the safety copy/);
    expect(message).not.toContain(PASSWORD);
    const list = await calls();
    expect(list.map((l) => l.split(' ')[0])).toEqual(['mongodump', 'mongorestore', 'mongorestore']);
    expect((await stdinOf(3)).equals(safetyBytes)).toBe(true);
    expect(await fsp.readdir(ctx.sourceDir)).toEqual([]);
  });

  it('a failed safety dump stops before anything is restored and leaves no file', async () => {
    const { input } = await backup(Buffer.concat([MAGIC, randomBytes(1000)]));
    await fsp.writeFile(path.join(dir, 'dump-output'), 'dump-fails');
    const ctx = makeContext(path.join(dir, 'rw'), 'mongodb');
    const err = await target()
      .restore(input, ctx)
      .catch((e: unknown) => e);
    expect(isRestoreError(err)).toBe(true);
    expect((err as Error).message).toMatch(/safety copy failed \(mongodump exit 2\); nothing was restored/);
    expect((err as Error).message).not.toContain(PASSWORD);
    expect((await calls()).map((l) => l.split(' ')[0])).toEqual(['mongodump']);
    expect(await fsp.readdir(ctx.sourceDir)).toEqual([]);
  });

  it('scratch mode restores into renamed namespaces, counts with mongosh and drops them', async () => {
    const { input, bytes } = await backup(Buffer.concat([MAGIC, randomBytes(2000)]));
    const out = await target({ scratch: true }).restore(input, makeContext(path.join(dir, 'rw'), 'mongodb'));
    const list = await calls();
    expect(list.map((l) => l.split(' ')[0])).toEqual(['mongorestore', 'mongosh']);
    const ts = /--nsTo=app_scratch_(\d{8}T\d{6})\.\*/.exec(list[0] ?? '')?.[1];
    expect(ts).toBeDefined();
    expect(list[0]).toContain(`--drop --gzip --nsInclude=app.* --nsFrom=app.* --nsTo=app_scratch_${ts}.*`);
    expect((await stdinOf(1)).equals(bytes)).toBe(true);
    // mongosh gets the URI in its environment, never in argv, and is asked to drop.
    expect(list[1]).toMatch(/mongosh --nodb --quiet \S+count\.js $/);
    expect(list[1]).not.toContain(PASSWORD);
    expect(await fsp.readFile(path.join(dir, 'mongosh-uri'), 'utf8')).toBe(`${URI}\n`);
    expect(await fsp.readFile(path.join(dir, 'mongosh-drop'), 'utf8')).toBe('1\n');
    expect(await fsp.readFile(path.join(dir, 'mongosh-script'), 'utf8')).toContain('dropDatabase()');
    expect(out.restored).toEqual([]);
    expect(out.metadata).toMatchObject({
      scratch: true,
      documents: 5,
      countedBy: 'mongosh',
      counts: { [`app_scratch_${ts}.photos`]: 3, [`app_scratch_${ts}.albums`]: 2 },
      scratchDatabases: [`app_scratch_${ts}`],
      dropped: true,
    });
  });

  it('a failed scratch restore still drops the scratch databases and reports the mongorestore failure', async () => {
    const { input } = await backup(Buffer.concat([MAGIC, Buffer.from('FAIL-RESTORE')]));
    const err = await target({ scratch: true })
      .restore(input, makeContext(path.join(dir, 'rw'), 'mongodb'))
      .catch((e: unknown) => e);
    expect(isRestoreError(err)).toBe(true);
    expect((err as Error).message).toMatch(/the scratch restore failed: mongorestore failed \(exit 1\)/);
    expect((err as Error).message).not.toContain(PASSWORD);
    expect((await calls()).map((l) => l.split(' ')[0])).toEqual(['mongorestore', 'mongosh']);
    expect(await fsp.readFile(path.join(dir, 'mongosh-drop'), 'utf8')).toBe('1\n');
  });

  it('scratch mode of a whole-deployment dump renames every database but the system ones', async () => {
    const { input } = await backup(Buffer.concat([MAGIC, randomBytes(2000)]), { database: null });
    await target({ scratch: true, mongoshBinary: path.join(dir, 'no-mongosh') }).restore(
      input,
      makeContext(path.join(dir, 'rw'), 'mongodb'),
    );
    expect((await calls())[0]).toMatch(
      / --archive --drop --gzip --nsExclude=admin\.\* --nsExclude=config\.\* --nsExclude=local\.\* --nsFrom=\$db\$\.\$coll\$ --nsTo=\$db\$_scratch_\d{8}T\d{6}\.\$coll\$ $/,
    );
  });

  it('an abort during the live restore puts the safety copy back and rethrows the reason as-is', async () => {
    const { input } = await backup(Buffer.concat([MAGIC, randomBytes(1000)]));
    const safetyBytes = gzipSync(Buffer.concat([MAGIC, Buffer.from('before')]));
    await fsp.writeFile(path.join(dir, 'dump-output'), safetyBytes);
    const ctl = new AbortController();
    const reason = new Error('operator pressed ctrl-c');
    const base = makeContext(path.join(dir, 'rw'), 'mongodb');
    const ctx = {
      ...base,
      signal: ctl.signal,
      onProgress: (e: { phase: string; completed: number }) => {
        if (e.phase === 'restore' && e.completed === 0) ctl.abort(reason);
      },
    };
    const err = await target()
      .restore(input, ctx)
      .catch((e: unknown) => e);
    expect(err).toBe(reason);
    const list = await calls();
    expect(list[0]).toMatch(/^mongodump /);
    expect(list.at(-1)).toMatch(/^mongorestore .* --archive --drop --gzip $/);
    // The aborted mongorestore may be killed after it took its number and before it logged its call,
    // so the safety restore's stdin is found by the last number taken, not by the length of the log.
    const last = Number((await fsp.readFile(path.join(dir, 'n'), 'utf8')).trim());
    expect((await stdinOf(last)).equals(safetyBytes)).toBe(true);
    expect(await fsp.readdir(ctx.sourceDir)).toEqual([]);
  });

  it('scratch mode without mongosh reports mongorestore counts and the databases left to drop', async () => {
    const { input } = await backup(Buffer.concat([MAGIC, randomBytes(2000)]));
    const out = await target({ scratch: true, mongoshBinary: path.join(dir, 'no-mongosh') }).restore(
      input,
      makeContext(path.join(dir, 'rw'), 'mongodb'),
    );
    expect((await calls()).map((l) => l.split(' ')[0])).toEqual(['mongorestore']);
    expect(out.metadata).toMatchObject({ countedBy: 'mongorestore log', dropped: false, documents: 5 });
    expect(out.metadata?.scratchDatabases).toEqual([expect.stringMatching(/^app_scratch_\d{8}T\d{6}$/)]);
  });

  // Issue #17 item 4. The placement is what is tested: the tools are the fakes above (no mongod here).
  it('keeps the safety archive of a checklist restore in the restore state folder, so rollback works after the restore folder is gone', async () => {
    await fsp.writeFile(path.join(dir, 'dump-output'), gzipSync(Buffer.concat([MAGIC, randomBytes(1000)])));
    const from = path.join(dir, 'restore-folder');
    const source = new MongoSource({ uri: URI, database: 'app', gzip: true, mongodumpBinary: bin.mongodump });
    expect((await createBackupPlan({ workDir: from, sources: [source] }).prepare()).ok).toBe(true);
    const safetyBytes = gzipSync(Buffer.concat([MAGIC, Buffer.from('the data before the restore')]));
    await fsp.writeFile(path.join(dir, 'dump-output'), safetyBytes);
    const stateDir = path.join(dir, 'state');
    const t = target();
    const report = await restoreWithChecklist({ from, targets: [t], stateDir });
    expect(report.ok).toBe(true);
    const id = report.record?.id as string;
    const rec = await readRestoreRecord(stateDir, id);
    const safety = String(rec.targets[0]?.output.safetyCopy);
    expect(safety.startsWith(`${path.join(stateDir, 'keep', id)}${path.sep}`)).toBe(true);
    // The user removes the restore folder (its .restore-work went with it); the way back stays.
    await fsp.rm(from, { recursive: true, force: true });
    expect((await fsp.readFile(safety)).equals(safetyBytes)).toBe(true);
    const n = (await calls()).length;
    const rolled = await rollbackRestore({ stateDir, id, targets: [t] });
    expect(rolled.ok).toBe(true);
    const list = await calls();
    expect(list.slice(n).map((l) => l.split(' ')[0])).toEqual(['mongorestore']);
    expect((await stdinOf(list.length)).equals(safetyBytes)).toBe(true);
  });

  it('outside a checklist restore the safety archive goes to safetyDir when set', async () => {
    const { input } = await backup(Buffer.concat([MAGIC, randomBytes(1000)]));
    const ctx = makeContext(path.join(dir, 'rw'), 'mongodb');
    const out = await target({ safetyDir: path.join(dir, 'kept') }).restore(input, ctx);
    expect(path.dirname(String(out.safetyCopy))).toBe(path.join(dir, 'kept'));
  });
});
