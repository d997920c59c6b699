/**
 * The shell of a database host's normal boot, piece by piece: what the launch template's user data
 * runs before `squirrel agent` starts under systemd. Pure functions of their inputs (no CDK), so a
 * test can read them. A replacement launched by the control plane boots with the user data of
 * agent/aws/user-data.ts instead (RunInstances' UserData replaces the template's), which expects
 * what `installAgent` and `writeConfig` leave behind.
 */

export interface HostConfig {
  readonly clusterId: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly table: string;
  readonly region: string;
  /** Secrets Manager ARNs, read at boot (never written into user data). */
  readonly agentSecretArn: string;
  readonly serveSecretArn: string;
  readonly port: number;
}

/** Amazon Linux 2023: MariaDB (server, client, mariadb-backup), Node 22, zstd, unzip. */
export const defaultInstallCommands = ['dnf install -y mariadb105-server mariadb105-backup nodejs22 zstd unzip'];

/** The agent from its asset (unpacked to /opt/squirrel) and the `squirrel` command. */
export function installAgent(zipPath: string): string[] {
  return [
    'mkdir -p /opt/squirrel /etc/squirrel /var/lib/squirrel',
    `unzip -o -q ${zipPath} -d /opt/squirrel`,
    'NODE_BIN=$(command -v node-22 || command -v node)',
    `printf '#!/bin/sh\\nexec %s /opt/squirrel/dist/agent/cli/main.js "$@"\\n' "$NODE_BIN" > /usr/local/bin/squirrel`,
    'chmod 0755 /usr/local/bin/squirrel',
  ];
}

/** The server settings the agent checks at start (DESIGN.md), as a MariaDB option file. */
export function mariadbOptions(port: number): string[] {
  return [
    "cat > /etc/my.cnf.d/squirrel.cnf <<'SQUIRREL_CNF'",
    '[mariadb]',
    `port=${port}`,
    'log_bin=mariadb-bin',
    'binlog_format=ROW',
    'binlog_row_image=FULL',
    'binlog_checksum=CRC32',
    'gtid_strict_mode=ON',
    'sync_binlog=1',
    'innodb_flush_log_at_trx_commit=1',
    // a unique server_id per host: the low 31 bits of its private address
    'SQUIRREL_CNF',
    `echo "server_id=$(( $(hostname -I | awk '{print $1}' | awk -F. '{print ($1*16777216+$2*65536+$3*256+$4) % 2147483647 + 1}') ))" >> /etc/my.cnf.d/squirrel.cnf`,
  ];
}

/**
 * /etc/squirrel/config.yaml, mode 0600, with the credentials fetched from Secrets Manager at boot,
 * and the agent's database user (replication and backups) created with them.
 */
export function writeConfig(c: HostConfig): string[] {
  const secret = (arn: string, field: string) =>
    `$(aws secretsmanager get-secret-value --region ${c.region} --secret-id ${arn} --query SecretString --output text | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).${field}))')`;
  return [
    `AGENT_PASSWORD=${secret(c.agentSecretArn, 'password')}`,
    `SERVE_PASSWORD=${secret(c.serveSecretArn, 'password')}`,
    'umask 077',
    'cat > /etc/squirrel/config.yaml <<SQUIRREL_CONFIG',
    `clusterId: ${c.clusterId}`,
    `bucket: ${c.bucket}`,
    `prefix: "${c.prefix}"`,
    `table: ${c.table}`,
    `region: ${c.region}`,
    `mysqlUrl: mysql://squirrel:\${AGENT_PASSWORD}@127.0.0.1:${c.port}`,
    'serveUser: squirrel-replica',
    'servePassword: ${SERVE_PASSWORD}',
    'SQUIRREL_CONFIG',
    'umask 022',
  ];
}

/**
 * The service that runs: on a replacement the control plane launched (its user data wrote
 * /etc/squirrel/job.json, agent/aws/user-data.ts), `squirrel instance-job`, which restores and
 * runs its own server from the restored datadir, promotes it and supervises the agent; on a
 * normal boot, the system's MariaDB with the agent's user, and `squirrel agent` under systemd.
 */
export function startAgent(): string[] {
  const unit = (name: string, description: string, execStart: string, restart: string) => [
    `cat > /etc/systemd/system/${name}.service <<'SQUIRREL_UNIT'`,
    '[Unit]',
    `Description=${description}`,
    'After=network-online.target',
    '[Service]',
    `ExecStart=${execStart}`,
    restart,
    'RestartSec=2',
    '[Install]',
    'WantedBy=multi-user.target',
    'SQUIRREL_UNIT',
  ];
  return [
    'if [ -s /etc/squirrel/job.json ]; then',
    '  systemctl disable --now mariadb || true',
    ...unit('squirrel-instance-job', 'squirrel instance job: restore, promote, then the supervised agent', '/usr/local/bin/squirrel instance-job --config /etc/squirrel/config.yaml --dir /var/lib/squirrel/instance --job /etc/squirrel/job.json', 'Restart=no').map((l) => (l.startsWith('cat') ? `  ${l}` : l)),
    '  systemctl daemon-reload',
    '  systemctl enable --now squirrel-instance-job',
    'else',
    '  systemctl enable --now mariadb',
    '  mariadb -e "CREATE USER IF NOT EXISTS \'squirrel\'@\'127.0.0.1\' IDENTIFIED BY \'${AGENT_PASSWORD}\'; GRANT ALL PRIVILEGES ON *.* TO \'squirrel\'@\'127.0.0.1\' WITH GRANT OPTION"',
    ...unit('squirrel-agent', 'squirrel agent: the binlog to S3, the durable position to DynamoDB', '/usr/local/bin/squirrel agent --config /etc/squirrel/config.yaml', 'Restart=always').map((l) => (l.startsWith('cat') ? `  ${l}` : l)),
    '  systemctl daemon-reload',
    '  systemctl enable --now squirrel-agent',
    'fi',
  ];
}
