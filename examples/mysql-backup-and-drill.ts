/**
 * Back up a MariaDB/MySQL database (a Nextcloud, a Gitea…) into a Duplicati staging folder, then
 * prove the dump restores: it is loaded into a throwaway database next to the live one, its row
 * counts compared with the manifest, and the throwaway database dropped. The live database is
 * never touched. The password is read from a file and reaches mariadb-dump through a temporary
 * option file, never the command line.
 *
 *   node mysql-backup-and-drill.js
 */
import { createBackupPlan, createRestorePlan, MysqlSource, MysqlTarget } from 'duplicati-kit';

const STAGING = '/srv/backup/mysql-staging';
const connection = { host: '127.0.0.1', port: 3306, user: 'backup', passwordFile: '/root/.mysql-backup-password' };

const backup = createBackupPlan({
  workDir: STAGING,
  sources: [new MysqlSource({ name: 'nextcloud-db', connection: { ...connection, database: 'nextcloud' } })],
});
const prepared = await backup.prepare({});
console.error(`Duplicati should back up: ${prepared.backupPaths.join(', ')}`);

// The drill: `scratch: true` loads and checks, then drops; nothing live changes.
const drill = createRestorePlan({ targets: [new MysqlTarget({ connection, scratch: true })] });
const report = await drill.run({ from: STAGING, dryRun: false });
console.error(JSON.stringify(report, null, 2));
