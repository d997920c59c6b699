import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMysqlUrl } from '../config.js';

/** How the MariaDB command-line tools reach a server: TCP from a mysql:// URL, or a Unix socket. */
export interface ClientTarget {
  user: string;
  password: string;
  host?: string;
  port?: number;
  socket?: string;
}

export function clientTargetFromUrl(url: string): ClientTarget {
  const { host, port, user, password } = parseMysqlUrl(url);
  return { host, port, user, password };
}

/**
 * Writes the connection options to a private option file for `--defaults-extra-file`, so the
 * password never appears on a command line (where `ps` shows it). `cleanup` removes the file.
 */
export function clientOptionFile(target: ClientTarget): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'sq-client-'));
  const path = join(dir, 'client.cnf');
  const quote = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const lines = ['[client]', `user=${quote(target.user)}`, `password=${quote(target.password)}`];
  if (target.socket) lines.push(`socket=${quote(target.socket)}`, 'protocol=SOCKET');
  else lines.push(`host=${quote(target.host ?? '127.0.0.1')}`, `port=${target.port ?? 3306}`, 'protocol=TCP');
  writeFileSync(path, `${lines.join('\n')}\n`, { mode: 0o600 });
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
