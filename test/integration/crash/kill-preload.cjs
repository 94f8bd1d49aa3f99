/**
 * Test-only preload for the kill harness (`node --require <this> dist/cli/main.js …`): numbers
 * every SQL statement the process sends (on the wire, to PostgreSQL's port) and every database client it
 * starts (psql, pg_restore, mariadb: each is one statement batch), and SIGKILLs its own process at
 * one of them. Read only here, never by the library:
 *
 * - DK_KILL_LOG: file to append `<n>\t<kind>\t<text>` to for every point (the counting pass).
 * - DK_KILL_AT: the point to die at; DK_KILL_WHEN: `before` (not sent), `sent` (sent, no answer
 *   read: the server may or may not run it) or `after` (answered / the client exited).
 * - DK_KILL_KIND: instead of a number, die at the first point of this kind (`client`: the first
 *   database client started). A run that first recovers what an earlier kill left numbers its
 *   points differently from the counting pass; a kind finds the same step either way.
 */
'use strict';
const fs = require('node:fs');
const childProcess = require('node:child_process');
const { syncBuiltinESMExports } = require('node:module');

const log = process.env.DK_KILL_LOG;
const at = Number(process.env.DK_KILL_AT ?? 0);
const when = process.env.DK_KILL_WHEN ?? 'before';
let n = 0;

const die = () => process.kill(process.pid, 'SIGKILL');
const oneLine = (s) =>
  String(s ?? '')
    .replace(/\s+/g, ' ')
    .slice(0, 160);

/** Number a point; returns true when this process must die around it. */
const atKind = process.env.DK_KILL_KIND;
let kindHit = false;

function point(kind, text) {
  n += 1;
  if (log) fs.appendFileSync(log, `${n}\t${kind}\t${oneLine(text)}\n`);
  if (atKind !== undefined && kind === atKind && !kindHit) {
    kindHit = true;
    return true;
  }
  return n === at;
}

// SQL statements are numbered where they leave the process: the PostgreSQL wire protocol's Query
// ('Q') and Parse ('P') messages written to a socket connected to the server's port. The CLI
// bundles its own copy of pg, so patching the `pg` package here would not reach it.
const net = require('node:net');
const PG_PORT = Number(process.env.DK_KILL_PG_PORT ?? process.env.PGPORT ?? 5432);
const READY = Buffer.from([0x5a, 0, 0, 0, 5]); // ReadyForQuery: the server answered

/** The SQL text of a Query or Parse message at the start of `buf`, or undefined. */
function sqlOf(buf) {
  if (!Buffer.isBuffer(buf) || buf.length < 6) return undefined;
  const type = buf[0];
  if (type !== 0x51 && type !== 0x50) return undefined;
  let at = 5;
  if (type === 0x50) at = buf.indexOf(0, at) + 1; // skip the statement name
  if (at <= 0) return undefined;
  const end = buf.indexOf(0, at);
  return buf.toString('utf8', at, end < 0 ? buf.length : end);
}

const write = net.Socket.prototype.write;
net.Socket.prototype.write = function (chunk, ...rest) {
  const text = this.remotePort === PG_PORT ? sqlOf(chunk) : undefined;
  if (text === undefined) return write.call(this, chunk, ...rest);
  const hit = point('sql', text);
  if (hit && when === 'before') die();
  if (hit && when === 'after') {
    this.on('data', (d) => {
      if (d.indexOf(READY) >= 0) die();
    });
  }
  const r = write.call(this, chunk, ...rest);
  if (hit && when === 'sent') die();
  return r;
};

const CLIENTS = /(^|\/)(psql|pg_restore|mariadb|mysql)$/;
const spawn = childProcess.spawn;
childProcess.spawn = function (file, args, ...rest) {
  const argv = Array.isArray(args) ? args : [];
  const counted = CLIENTS.test(String(file)) && !argv.includes('--version');
  const hit = counted && point('client', [file, ...argv.filter((a) => !a.startsWith('--defaults'))].join(' '));
  if (hit && when === 'before') die();
  const child = spawn.call(this, file, args, ...rest);
  const me = n;
  // The statements go through stdin: log their start next to the point (the counting pass).
  if (counted && log && child.stdin) {
    const write = child.stdin.write;
    child.stdin.write = function (chunk, ...more) {
      child.stdin.write = write;
      fs.appendFileSync(log, `${me}\tstdin\t${oneLine(chunk)}\n`);
      return write.call(this, chunk, ...more);
    };
  }
  if (hit && when === 'sent') child.once('spawn', die);
  if (hit && when === 'after') child.once('exit', die);
  return child;
};
syncBuiltinESMExports();
