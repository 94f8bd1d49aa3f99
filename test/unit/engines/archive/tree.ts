/**
 * Test trees for the archive round trip: build one on disk from a plain description, and read a
 * tree back into a comparable listing (type, mode, mtime, content digest, link target, links).
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export type TreeNode =
  | { kind: 'file'; path: string; size: number; seed: number; mode: number; mtime: number }
  | { kind: 'dir'; path: string; mode: number; mtime: number }
  | { kind: 'symlink'; path: string; target: string; mtime: number }
  | { kind: 'hardlink'; path: string; target: string };

/** Deterministic bytes for a file: a xorshift stream seeded by `seed`. */
export function contentOf(size: number, seed: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let x = seed | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x & 0xff;
  }
  return buf;
}

/** Create `nodes` under `root` (which must exist); folder attributes are set last, deepest first. */
export async function buildTree(root: string, nodes: readonly TreeNode[], rootAttrs: { mode: number; mtime: number }) {
  const dirs = nodes.filter((n) => n.kind === 'dir');
  for (const d of dirs) await fsp.mkdir(path.join(root, d.path), { recursive: true });
  for (const n of nodes) {
    const abs = path.join(root, n.path);
    if (n.kind === 'dir') continue;
    await fsp.mkdir(path.dirname(abs), { recursive: true });
    if (n.kind === 'file') {
      await fsp.writeFile(abs, contentOf(n.size, n.seed));
      await fsp.chmod(abs, n.mode);
      await fsp.utimes(abs, n.mtime, n.mtime);
    } else if (n.kind === 'symlink') {
      await fsp.symlink(n.target, abs);
      await fsp.lutimes(abs, n.mtime, n.mtime);
    } else {
      await fsp.link(path.join(root, n.target), abs);
    }
  }
  const byDepth = [...dirs].sort((a, b) => b.path.split('/').length - a.path.split('/').length);
  for (const d of byDepth) {
    await fsp.chmod(path.join(root, d.path), d.mode);
    await fsp.utimes(path.join(root, d.path), d.mtime, d.mtime);
  }
  await fsp.chmod(root, rootAttrs.mode);
  await fsp.utimes(root, rootAttrs.mtime, rootAttrs.mtime);
}

/** One line per path: everything a round trip must keep. Hardlinks show the first path of their inode. */
export async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const inodes = new Map<number, string>();
  const walk = async (rel: string): Promise<void> => {
    const abs = rel ? path.join(root, rel) : root;
    const st = await fsp.lstat(abs);
    const mtime = Math.floor(st.mtimeMs / 1000);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isDirectory()) {
      out.push(`${rel || '.'} dir ${mode} ${mtime}`);
      const names = (await fsp.readdir(abs)).sort();
      for (const name of names) await walk(rel ? `${rel}/${name}` : name);
    } else if (st.isSymbolicLink()) {
      out.push(`${rel} symlink -> ${await fsp.readlink(abs)} ${mtime}`);
    } else {
      const first = st.nlink > 1 ? inodes.get(st.ino) : undefined;
      if (st.nlink > 1 && first === undefined) inodes.set(st.ino, rel);
      const digest = createHash('sha256')
        .update(await fsp.readFile(abs))
        .digest('hex')
        .slice(0, 16);
      out.push(`${rel} file ${mode} ${mtime} ${st.size} ${digest}${first ? ` link-of ${first}` : ''}`);
    }
  };
  await walk('');
  return out;
}
