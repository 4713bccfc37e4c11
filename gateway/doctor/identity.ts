import { readFileSync, statSync, type Stats } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';

/**
 * Whose permissions the checks evaluate. `airssys doctor` is usually run by a person with sudo, but
 * what matters is whether the *service user* can open /sys/class/gpio/export and /dev/ttyUSB0, so
 * when run as root and the service user exists, the checks are evaluated for it. Mode bits are
 * compared by hand (not access(2)) because root passes every access(2) test.
 */
export interface Identity {
  name: string;
  uid: number;
  /** Primary and supplementary group ids. */
  gids: number[];
  /** How the identity was chosen, for the output. */
  source: 'process' | 'passwd';
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export function readGroups(etcRoot: string): GroupEntry[] {
  return readColonFile(join(etcRoot, 'group')).map((f) => ({
    name: f[0]!,
    gid: Number(f[2]),
    members: (f[3] ?? '').split(',').filter(Boolean),
  }));
}

function readColonFile(path: string): string[][] {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

/** A user as the service would run: primary group from passwd plus every group listing it. */
export function identityFromPasswd(etcRoot: string, name: string): Identity | undefined {
  const pw = readColonFile(join(etcRoot, 'passwd')).find((f) => f[0] === name);
  if (!pw) return undefined;
  const gids = new Set<number>([Number(pw[3])]);
  for (const g of readGroups(etcRoot)) if (g.members.includes(name)) gids.add(g.gid);
  return { name, uid: Number(pw[2]), gids: [...gids], source: 'passwd' };
}

export function processIdentity(): Identity {
  const uid = process.getuid?.() ?? -1;
  const gids = new Set<number>([process.getgid?.() ?? -1, ...(process.getgroups?.() ?? [])]);
  let name = String(uid);
  try {
    name = userInfo().username;
  } catch {
    // a uid without a passwd entry (containers): keep the number
  }
  return { name, uid, gids: [...gids], source: 'process' };
}

/** The identity to evaluate: an explicit user, else the service user when we are root, else us. */
export function chooseIdentity(etcRoot: string, user: string | undefined, serviceUser = 'airssys'): Identity {
  if (user) {
    const id = identityFromPasswd(etcRoot, user);
    if (!id) throw new Error(`user ${user} not found in ${join(etcRoot, 'passwd')}`);
    return id;
  }
  const me = processIdentity();
  if (me.uid === 0) return identityFromPasswd(etcRoot, serviceUser) ?? me;
  return me;
}

export type Want = 'r' | 'w' | 'rw';

/** Whether `id` may open a file with these mode bits (owner, group, other), following symlinks. */
export function canAccess(st: Stats, id: Identity, want: Want): boolean {
  if (id.uid === 0) return true;
  const shift = st.uid === id.uid ? 6 : id.gids.includes(st.gid) ? 3 : 0;
  const bits = (st.mode >> shift) & 7;
  const need = (want.includes('r') ? 4 : 0) | (want.includes('w') ? 2 : 0);
  return (bits & need) === need;
}

export function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

export function groupNames(etcRoot: string, id: Identity): string[] {
  const byGid = new Map(readGroups(etcRoot).map((g) => [g.gid, g.name]));
  return id.gids.map((g) => byGid.get(g) ?? String(g));
}
