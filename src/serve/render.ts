/**
 * The pages as HTML (served, with the dashboard's script for charts) and the same content as one
 * static report (inline CSS and SVG, no script) or Markdown. Every value is escaped; nothing
 * inline is executable, so the dashboard runs under a strict Content-Security-Policy.
 *
 * @module
 */
import { formatAge } from '../ops/audit-rules.js';
import type { AuditRule } from '../ops/audit-rules.js';
import type { AuditReport } from '../ops/audit.js';
import type { DashboardSnapshot, JobView, Light, RunPoint, ServerView } from './types.js';

/** The pages of the dashboard: path, title, API twin. */
export const PAGES = [
  { path: '/', id: 'overview', title: 'Overview' },
  { path: '/plan', id: 'plan', title: 'Backup plan' },
  { path: '/history', id: 'history', title: 'Job history' },
  { path: '/drills', id: 'drills', title: 'Drills' },
  { path: '/restores', id: 'restores', title: 'Restore points' },
  { path: '/copies', id: 'copies', title: 'Local copies' },
  { path: '/certificates', id: 'certificates', title: 'Certificates' },
] as const;

/** A page id. */
export type PageId = (typeof PAGES)[number]['id'];

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** HTML-escape a value. */
export const esc = (v: unknown): string => String(v ?? '').replace(/[&<>"']/g, (c) => ESC[c] ?? c);

const STATUS_LIGHT: Record<AuditRule['status'], Light> = { pass: 'green', warn: 'amber', fail: 'red', unknown: 'grey' };
const LIGHT_TEXT: Record<Light, string> = { green: 'OK', amber: 'WARN', red: 'FAIL', grey: 'UNKNOWN' };
const RESULT_LIGHT: Record<string, Light> = { Success: 'green', Warning: 'amber' };

const badge = (l: Light, text = LIGHT_TEXT[l]): string => `<span class="badge ${l}">${esc(text)}</span>`;

function table(
  caption: string,
  head: readonly string[],
  rows: readonly string[][],
  rowClass?: readonly string[],
): string {
  if (rows.length === 0) return `<p class="empty">${esc(caption)}: nothing to show.</p>`;
  const th = head.map((h) => `<th scope="col">${esc(h)}</th>`).join('');
  const body = rows
    .map(
      (r, i) => `<tr${rowClass?.[i] ? ` class="${rowClass[i]}"` : ''}>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<table><caption>${esc(caption)}</caption><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const when = (iso: string | null | undefined, now: number): string => {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return esc(iso);
  const d = now - t;
  const rel = d >= 0 ? `${formatAge(d)} ago` : `in ${formatAge(-d)}`;
  return `<time datetime="${esc(new Date(t).toISOString())}">${esc(rel)}</time>`;
};

const bytes = (n: number | null): string => {
  if (n === null) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i ? 1 : 0)} ${u[i]}`;
};

function worst(rules: readonly AuditRule[]): Light {
  if (!rules.length) return 'grey';
  for (const s of ['fail', 'unknown', 'warn'] as const) if (rules.some((r) => r.status === s)) return STATUS_LIGHT[s];
  return 'green';
}

function copiesTable(s: DashboardSnapshot): string {
  const local = s.localAudit?.rules ?? [];
  const jobRules = s.servers.flatMap((v) => v.audit?.rules ?? []);
  const live = local.filter((r) => r.id.startsWith('live.'));
  const copies = local.filter((r) => r.id.startsWith('local.'));
  const off = jobRules.filter((r) => r.id === 'job.offsite' || r.id === 'job.last-success' || r.id === 'job.present');
  const row = (n: string, what: string, rules: readonly AuditRule[]) => {
    const l = worst(rules);
    return [
      esc(n),
      esc(what),
      badge(l),
      esc(rules.find((r) => r.status !== 'pass')?.reason ?? (rules.length ? 'all rules pass' : 'not audited')),
    ];
  };
  return table(
    '3-2-1: the three copies',
    ['Copy', 'What', 'State', 'Why'],
    [
      row('1 live', 'the data where it lives', live),
      row('2 local', s.localCopies ? `dated copies in ${s.localCopies.dir}` : 'local copies', copies),
      row('3 off-site', 'Duplicati jobs', off),
    ],
  );
}

function auditTable(caption: string, a: AuditReport | null): string {
  if (!a) return `<p class="empty">${esc(caption)}: not audited.</p>`;
  const rows = a.rules.map((r) => [
    badge(STATUS_LIGHT[r.status], r.status.toUpperCase()),
    esc(r.id),
    esc(r.subject),
    esc(r.reason),
  ]);
  return table(
    caption,
    ['Status', 'Rule', 'Subject', 'Reason'],
    rows,
    a.rules.map((r) => `row-${STATUS_LIGHT[r.status]}`),
  );
}

function jobRow(j: JobView, now: number): string[] {
  const age =
    j.ageMs === null
      ? 'never'
      : `${when(j.lastSuccessAt, now)}${j.maxAgeMs !== null ? ` <span class="muted">(max ${esc(formatAge(j.maxAgeMs))})</span>` : ''}`;
  return [
    `${badge(j.freshness, j.freshness === 'red' ? 'STALE' : LIGHT_TEXT[j.freshness])}`,
    `<strong>${esc(j.name)}</strong>`,
    age,
    j.schedule?.nextRunAt ? when(j.schedule.nextRunAt, now) : 'not scheduled',
    j.lastFailure
      ? `${when(j.lastFailure.at, now)}: ${esc(j.lastFailure.result)} — ${esc(j.lastFailure.reason)}`
      : 'none on record',
    j.lastVerified
      ? `${when(j.lastVerified.at, now)} (version ${esc(j.lastVerified.version ?? '?')})`
      : '<span class="muted">no passing drill</span>',
    j.lastVerified ? esc(formatAge(j.lastVerified.recoveryMs)) : '—',
  ];
}

function serverHeading(v: ServerView, now: number): string {
  const state = v.ok ? badge('green', 'READ') : badge('red', 'UNREACHABLE');
  const err = v.error
    ? ` <span class="muted">${esc(v.error)}; showing the read of ${v.readAt ? when(v.readAt, now) : 'never'}</span>`
    : '';
  return `<h2 id="server-${esc(v.name)}">Server ${esc(v.name)} <span class="muted">${esc(v.url)}</span> ${state}${err}</h2>`;
}

function overview(s: DashboardSnapshot, now: number): string {
  const parts = [copiesTable(s), auditTable('Audit: this machine (live data, local copies)', s.localAudit)];
  for (const v of s.servers) {
    parts.push(serverHeading(v, now));
    parts.push(
      table(
        `Jobs on ${v.name}`,
        ['State', 'Job', 'Last success', 'Next run', 'Last failure', 'Last verified restorable', 'Recovery time'],
        v.jobs.map((j) => jobRow(j, now)),
        v.jobs.map((j) => `row-${j.freshness}`),
      ),
    );
    parts.push(auditTable(`Audit: ${v.name}`, v.audit));
  }
  return parts.join('\n');
}

function plan(s: DashboardSnapshot): string {
  const servers = [...new Set(s.plan.map((p) => p.server))];
  return [
    '<p>Generated from the jobs on the servers: it cannot drift from the configuration.</p>',
    ...servers.map((name) =>
      table(
        `Backup plan: ${name}`,
        ['Service', 'Frequency', 'Time', 'Retention', 'Where'],
        s.plan
          .filter((p) => p.server === name)
          .map((p) => [esc(p.service), esc(p.frequency), esc(p.time), esc(p.retention), esc(p.where)]),
      ),
    ),
  ].join('\n');
}

/** Result strip: one bar per run, colored by result (inline SVG, no script). */
function timeline(runs: readonly RunPoint[], label: string): string {
  if (!runs.length) return '<p class="empty">no runs on record</p>';
  const w = 600;
  const step = w / runs.length;
  const rects = runs
    .map(
      (r, i) =>
        `<rect x="${(i * step).toFixed(2)}" y="0" width="${Math.max(step, 1).toFixed(2)}" height="16" class="r-${RESULT_LIGHT[r.result] ?? 'red'}"><title>${esc(new Date(r.t * 1000).toISOString())} ${esc(r.result)}</title></rect>`,
    )
    .join('');
  return `<svg class="timeline" viewBox="0 0 ${w} 16" preserveAspectRatio="none" role="img" aria-label="${esc(label)}">${rects}</svg>`;
}

/** A sparkline of one series (for the static report). */
function sparkline(values: readonly number[], label: string): string {
  if (values.length < 2) return '';
  const w = 300;
  const h = 40;
  const max = Math.max(...values, 1);
  const pts = values
    .map((v, i) => `${((i / (values.length - 1)) * w).toFixed(1)},${(h - (v / max) * h).toFixed(1)}`)
    .join(' ');
  return `<svg class="spark" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(label)}"><polyline points="${pts}" fill="none" stroke="#3465a4" stroke-width="1.5"/></svg>`;
}

/** The charts of a job: what the dashboard's script draws with uPlot, and their series. */
export const CHARTS = [
  { metric: 'duration', title: 'Duration (s)', series: ['duration'] },
  { metric: 'size', title: 'Size examined / uploaded', series: ['examined', 'uploaded'] },
  { metric: 'files', title: 'Files examined / added / modified', series: ['examined', 'added', 'modified'] },
] as const;

function history(s: DashboardSnapshot, mode: 'page' | 'report'): string {
  const parts: string[] = [];
  for (const v of s.servers) {
    parts.push(`<h2>Server ${esc(v.name)}</h2>`);
    for (const j of v.jobs) {
      const key = `${v.name}/${j.id}`;
      const runs = s.history[key] ?? [];
      const ok = runs.filter((r) => r.result === 'Success' || r.result === 'Warning').length;
      parts.push(
        `<section class="job" aria-labelledby="h-${esc(key)}"><h3 id="h-${esc(key)}">${esc(j.name)} <span class="muted">${runs.length} runs, ${ok} stored a version</span></h3>`,
      );
      parts.push(timeline(runs, `Results of ${j.name}: ${runs.length} runs, ${runs.length - ok} failed`));
      if (mode === 'page') {
        parts.push(
          `<div class="charts">${CHARTS.map(
            (c) =>
              `<figure class="chart" data-key="${esc(key)}" data-metric="${c.metric}" role="img" aria-label="${esc(`${c.title} of ${j.name}`)}"><figcaption>${esc(c.title)}</figcaption></figure>`,
          ).join('')}</div>`,
        );
      } else {
        parts.push(
          `<div class="charts">${sparkline(
            runs.map((r) => r.durationS),
            `Duration of ${j.name}`,
          )}${sparkline(
            runs.map((r) => r.sizeExamined),
            `Size examined of ${j.name}`,
          )}${sparkline(
            runs.map((r) => r.examinedFiles),
            `Files examined of ${j.name}`,
          )}</div>`,
        );
      }
      parts.push('</section>');
    }
  }
  return parts.join('\n');
}

function drills(s: DashboardSnapshot, now: number, links: boolean): string {
  return table(
    'Restore drills, newest first',
    ['Verdict', 'Job', 'Version', 'Mode', 'Finished', 'Recovery time', 'Checks', 'Evidence'],
    s.drills.map((d) => [
      badge(d.verdict === 'pass' ? 'green' : 'red', d.verdict.toUpperCase()),
      esc(d.job),
      esc(d.version ?? '?'),
      esc(d.mode),
      when(d.finishedAt, now),
      esc(formatAge(d.recoveryMs)),
      `${esc(d.checks)}${d.errors.length ? `<br>${esc(d.errors.join('; '))}` : ''}`,
      d.evidence && links ? `<a href="${esc(d.evidence)}">evidence of the drill of ${esc(d.job)}</a>` : '—',
    ]),
  );
}

function restores(s: DashboardSnapshot, now: number): string {
  return table(
    'Restore records (restore points)',
    ['Status', 'Id', 'Created', 'From', 'Targets', 'What a rollback would do'],
    s.restorePoints.map((r) => [
      badge(
        r.status === 'applied' || r.status === 'dropped' ? 'green' : r.status === 'rollback-failed' ? 'red' : 'amber',
        r.status,
      ),
      esc(r.id),
      when(r.createdAt, now),
      esc(r.source),
      esc(r.targets.map((t) => `${t.name} (${t.kind}, ${t.state})`).join(', ')),
      esc(r.rollback),
    ]),
  );
}

function copies(s: DashboardSnapshot, now: number): string {
  const lc = s.localCopies;
  if (!lc) return '<p class="empty">No localCopies in the config: copy 2 of 3-2-1 is not shown.</p>';
  return [
    `<p>Folder <code>${esc(lc.dir)}</code>, retention: ${esc(lc.retention)}.</p>`,
    table(
      'Local copies, newest first',
      ['Copy', 'Made', 'Size', 'Artifacts', 'Complete', 'Retention'],
      lc.copies.map((c) => [
        esc(c.name),
        when(c.at, now),
        esc(bytes(c.bytes)),
        esc(c.artifacts),
        c.complete ? badge('green', 'yes') : badge('red', 'no manifest'),
        c.kept ? 'kept' : 'pruned at the next run',
      ]),
    ),
  ].join('\n');
}

function certificates(s: DashboardSnapshot): string {
  return table(
    'TLS certificates (nginx sources)',
    ['State', 'Subject', 'Names', 'Expires', 'Days left', 'File'],
    s.certificates.map((c) => [
      badge(c.light),
      esc(c.subject),
      esc(c.sans.join(', ')),
      esc(c.notAfter),
      esc(c.daysLeft),
      `<code>${esc(c.file)}</code>`,
    ]),
  );
}

/** The body of a page. */
export function pageBody(id: PageId, s: DashboardSnapshot, mode: 'page' | 'report' = 'page'): string {
  const now = Date.parse(s.generatedAt);
  switch (id) {
    case 'overview':
      return overview(s, now);
    case 'plan':
      return plan(s);
    case 'history':
      return history(s, mode);
    case 'drills':
      return drills(s, now, mode === 'page');
    case 'restores':
      return restores(s, now);
    case 'copies':
      return copies(s, now);
    default:
      return certificates(s);
  }
}

const asOf = (s: DashboardSnapshot | null): string =>
  s
    ? `<p class="asof">Data as of <time datetime="${esc(s.generatedAt)}">${esc(s.generatedAt)}</time>; read in ${esc(Math.round(s.refreshMs))} ms. Read-only: nothing here starts a backup, restore or drill.</p>`
    : '<p class="asof" role="status">Reading the servers for the first time; this page shows them as soon as they answer.</p>';

/** A whole served page (scripts and styles from /assets only). */
export function renderPage(id: PageId, s: DashboardSnapshot | null): string {
  const page = PAGES.find((p) => p.id === id) ?? PAGES[0];
  const nav = PAGES.map(
    (p) => `<li><a href="${p.path}"${p.id === id ? ' aria-current="page"' : ''}>${esc(p.title)}</a></li>`,
  ).join('');
  const charts = id === 'history';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(page.title)} — duplicati-kit</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/dashboard.css">${charts ? '\n<link rel="stylesheet" href="/assets/uPlot.min.css">\n<script src="/assets/uPlot.iife.min.js" defer></script>' : ''}
<script src="/assets/dashboard.js" defer></script>
</head><body data-page="${id}" data-api="/api/${id}">
<a class="skip" href="#main">Skip to content</a>
<header><p class="brand">duplicati-kit</p><nav aria-label="Pages"><ul>${nav}</ul></nav></header>
<main id="main" tabindex="-1"><h1>${esc(page.title)}</h1>
${asOf(s)}
${s ? pageBody(id, s) : ''}
</main></body></html>
`;
}

const REPORT_CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d1d1d}table{border-collapse:collapse;margin:.5rem 0 1.5rem}
caption{text-align:left;font-weight:600;padding:.25rem 0}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
.badge{display:inline-block;padding:0 .4rem;border-radius:3px;font-weight:600;color:#fff}.green{background:#2e7d32}.amber{background:#b26a00}
.red{background:#c62828}.grey{background:#616161}.muted{color:#555;font-weight:normal}.timeline{width:600px;height:16px;display:block}
.r-green{fill:#2e7d32}.r-amber{fill:#b26a00}.r-red{fill:#c62828}.spark{width:300px;height:40px;margin-right:1rem}`;

/** The same content as one static HTML file: inline CSS and SVG, no script. */
export function renderReport(s: DashboardSnapshot): string {
  const sections = PAGES.map((p) => `<section><h1>${esc(p.title)}</h1>\n${pageBody(p.id, s, 'report')}</section>`).join(
    '\n',
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Backup report — duplicati-kit</title><style>${REPORT_CSS}</style></head>
<body><p>Backup report generated ${esc(s.generatedAt)}.</p>
${sections}
</body></html>
`;
}

const md = (v: unknown): string =>
  String(v ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, ' ');
function mdTable(head: readonly string[], rows: readonly (readonly unknown[])[]): string {
  if (!rows.length) return '_nothing to show_\n';
  return `| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|\n${rows.map((r) => `| ${r.map(md).join(' | ')} |`).join('\n')}\n`;
}

/** The report as Markdown (for a docs site or an e-mail). */
export function renderMarkdown(s: DashboardSnapshot): string {
  const now = Date.parse(s.generatedAt);
  const ago = (iso: string | null) => (iso ? `${formatAge(now - Date.parse(iso))} ago` : 'never');
  const out = [`# Backup report\n\nGenerated ${s.generatedAt}.\n`];
  out.push('## Audit\n');
  const audits = [
    ...(s.localAudit ? [['this machine', s.localAudit] as const] : []),
    ...s.servers.map((v) => [v.name, v.audit] as const),
  ];
  out.push(
    mdTable(
      ['Where', 'Status', 'Rule', 'Subject', 'Reason'],
      audits.flatMap(([w, a]) => (a?.rules ?? []).map((r) => [w, r.status.toUpperCase(), r.id, r.subject, r.reason])),
    ),
  );
  out.push('\n## Jobs\n');
  out.push(
    mdTable(
      ['Server', 'Job', 'State', 'Last success', 'Last failure', 'Last verified restorable'],
      s.servers.flatMap((v) =>
        v.jobs.map((j) => [
          v.name,
          j.name,
          j.freshness === 'red' ? 'STALE' : LIGHT_TEXT[j.freshness],
          ago(j.lastSuccessAt),
          j.lastFailure ? `${ago(j.lastFailure.at)}: ${j.lastFailure.reason}` : 'none',
          j.lastVerified ? ago(j.lastVerified.at) : 'no passing drill',
        ]),
      ),
    ),
  );
  out.push('\n## Backup plan\n');
  out.push(
    mdTable(
      ['Server', 'Service', 'Frequency', 'Time', 'Retention', 'Where'],
      s.plan.map((p) => [p.server, p.service, p.frequency, p.time, p.retention, p.where]),
    ),
  );
  out.push('\n## Drills\n');
  out.push(
    mdTable(
      ['Verdict', 'Job', 'Version', 'Finished', 'Recovery'],
      s.drills.map((d) => [d.verdict.toUpperCase(), d.job, d.version ?? '?', d.finishedAt, formatAge(d.recoveryMs)]),
    ),
  );
  out.push('\n## Restore points\n');
  out.push(
    mdTable(
      ['Status', 'Id', 'From', 'Rollback'],
      s.restorePoints.map((r) => [r.status, r.id, r.source, r.rollback]),
    ),
  );
  out.push('\n## Local copies\n');
  out.push(
    s.localCopies
      ? mdTable(
          ['Copy', 'Size (bytes)', 'Complete', 'Kept'],
          s.localCopies.copies.map((c) => [c.name, c.bytes, c.complete, c.kept]),
        )
      : '_not configured_\n',
  );
  out.push('\n## Certificates\n');
  out.push(
    mdTable(
      ['Subject', 'Expires', 'Days left'],
      s.certificates.map((c) => [c.subject, c.notAfter, c.daysLeft]),
    ),
  );
  return out.join('');
}
