import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isHookProtocolError } from '../../../src/hooks/errors.js';
import { duplicatiScriptLogger, HookOutput, teeLogger } from '../../../src/hooks/output.js';
import { memorySink } from './helpers.js';

function setup(extra: { acceptOptions?: boolean; eol?: string; secrets?: string[] } = {}) {
  const stdout = memorySink();
  const stderr = memorySink();
  const out = new HookOutput({ stdout, stderr, eol: extra.eol ?? '\n', pathSeparator: ':', ...extra });
  return { out, stdout, stderr };
}

/** What Duplicati's option reader makes of a line: trim, `--`, split at `=`, trim, strip one pair of quotes. */
function duplicatiReadsOption(line: string): [string, string] {
  const body = line.trim().slice(2);
  const i = body.indexOf('=');
  let value = body.slice(i + 1).trim();
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  return [body.slice(0, i).trim(), value];
}

describe('HookOutput', () => {
  it('writes option lines Duplicati reads back to the same value', () => {
    const { out, stdout } = setup();
    const values = ['25mb', ' padded ', '"quoted"', '', 'a=b', '+*.jpg:-*.tmp'];
    for (const v of values) out.option('x', v);
    expect(stdout.lines().map((l) => duplicatiReadsOption(l)[1])).toEqual(values);
    expect(stdout.lines()[0]).toBe('--x=25mb');
  });

  it('round-trips any single-line value through Duplicati option parsing', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !/[\r\n]/.test(s)),
        (value) => {
          const { out, stdout } = setup();
          out.option('dblock-size', value);
          expect(stdout.lines()).toHaveLength(1);
          expect(duplicatiReadsOption(stdout.text().replace(/\n$/, ''))).toEqual(['dblock-size', value]);
        },
      ),
    );
  });

  it('refuses option lines Duplicati would drop or mangle', () => {
    const { out, stdout } = setup();
    for (const bad of [
      () => out.option('eventname', 'AFTER'),
      () => out.option('main-action', 'Restore'),
      () => out.option('bad name', 'x'),
      () => out.option('', 'x'),
      () => out.option('k=v', 'x'),
      () => out.option('x', 'two\nlines'),
      () => out.localPaths(['/a:b']),
    ]) {
      let err: unknown;
      try {
        bad();
      } catch (e) {
        err = e;
      }
      expect(isHookProtocolError(err)).toBe(true);
    }
    expect(stdout.text()).toBe('');
  });

  it('refuses options where Duplicati reads none (AFTER)', () => {
    const { out } = setup({ acceptOptions: false });
    expect(() => out.option('dblock-size', '25mb')).toThrow(/only from BEFORE/);
  });

  it('writes localpath and filter lines joined with the path separator', () => {
    const { out, stdout } = setup();
    out.localPaths(['/srv/backup/staging', '/srv/immich/library']);
    out.filter([
      { include: false, pattern: '*/thumbs/*' },
      { include: true, pattern: '*' },
    ]);
    expect(stdout.lines()).toEqual(['--localpath=/srv/backup/staging:/srv/immich/library', '--filter=-*/thumbs/*:+*']);
  });

  it('writes one line per message (warnings on stderr, which 2.0.x reads), line breaks folded, secrets masked', () => {
    const { out, stdout, stderr } = setup({ secrets: ['hunter22'] });
    out.info('dump done');
    out.warn('first\r\nsecond\n\nthird');
    out.error('login failed for hunter22');
    out.log('WARN', 'a raw LOG line');
    expect(stdout.lines()).toEqual(['LOG:INFO dump done', 'LOG:ERROR login failed for ***', 'LOG:WARN a raw LOG line']);
    expect(stderr.text()).toBe('warning: first | second | third\nerror: login failed for ***\n');
    expect(out.counts).toMatchObject({ info: 1, warn: 2, error: 1, stderr: 2 });
  });

  it('keeps any message on exactly one LOG line', () => {
    fc.assert(
      fc.property(fc.string(), (message) => {
        const { out, stdout, stderr } = setup();
        out.log('WARN', message);
        out.warn(message);
        const lines = stdout.text().split(/\r\n|\r|\n/);
        expect(lines).toHaveLength(2);
        expect(lines[0]?.startsWith('LOG:WARN')).toBe(true);
        expect(stderr.text().split(/\r\n|\r|\n/)).toHaveLength(2);
      }),
    );
  });

  it('uses the line ending it is given (Duplicati on Windows splits on CRLF)', () => {
    const { out, stdout } = setup({ eol: '\r\n' });
    out.option('a', '1');
    out.info('x');
    expect(stdout.text()).toBe('--a=1\r\nLOG:INFO x\r\n');
  });

  it('writes to stderr only through stderrWarning and remembers it', () => {
    const { out, stderr } = setup();
    expect(out.wroteStderr).toBe(false);
    out.stderrWarning('disk almost full\nreally');
    expect(stderr.text()).toBe('disk almost full | really\n');
    expect(out.wroteStderr).toBe(true);
  });

  it('survives a closed stdout', async () => {
    const out = new HookOutput({
      stdout: {
        write: () => {
          throw new Error('EPIPE');
        },
      },
      stderr: memorySink(),
    });
    expect(() => out.info('late')).not.toThrow();
    await expect(out.flush()).resolves.toBeUndefined();
  });
});

describe('duplicatiScriptLogger', () => {
  it('maps info to LOG:INFO, warn to stderr, error to both; drops debug, appends masked fields', () => {
    const { out, stdout, stderr } = setup();
    const logger = duplicatiScriptLogger(out);
    logger.debug('noise');
    logger.info('dumped', { source: 'immich', bytes: 1024 });
    logger.warn('slow', { password: 'p4ssw0rd' });
    logger.child?.({ source: 'jellyfin' }).error('failed', { error: new Error('disk full') });
    expect(stdout.lines()).toEqual([
      'LOG:INFO dumped source=immich bytes=1024',
      'LOG:ERROR failed source=jellyfin error=disk full',
    ]);
    expect(stderr.text()).toBe('warning: slow password=***\nerror: failed source=jellyfin error=disk full\n');
  });

  it('teeLogger sends each line to every logger', () => {
    const a = setup();
    const b = setup();
    const logger = teeLogger(duplicatiScriptLogger(a.out), duplicatiScriptLogger(b.out));
    logger.child?.({ run: 1 }).info('x');
    expect(a.stdout.lines()).toEqual(['LOG:INFO x run=1']);
    expect(b.stdout.lines()).toEqual(['LOG:INFO x run=1']);
  });
});
