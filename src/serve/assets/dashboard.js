// The dashboard's only script (served from /assets, allowed by the CSP as 'self'): draws the job
// history charts with uPlot from /api/history, and reloads a page when its API twin has newer data.
// No inline handlers, no eval, no third-party origin.
(() => {
  const bytes = (v) => {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let n = Math.abs(v);
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return `${(Math.sign(v) * n).toFixed(n < 10 && i ? 1 : 0)} ${units[i]}`;
  };
  const CHARTS = {
    duration: { series: [['duration (s)', '#3465a4']], pick: (r) => [r.durationS] },
    size: {
      series: [
        ['examined (bytes)', '#3465a4'],
        ['uploaded (bytes)', '#c17d11'],
      ],
      pick: (r) => [r.sizeExamined, r.bytesUploaded],
      format: bytes,
    },
    files: {
      series: [
        ['examined', '#3465a4'],
        ['added', '#4e9a06'],
        ['modified', '#c17d11'],
      ],
      pick: (r) => [r.examinedFiles, r.addedFiles, r.modifiedFiles],
    },
  };

  async function getJson(url) {
    const res = await fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return res.json();
  }

  function draw(figure, runs, measured) {
    const spec = CHARTS[figure.dataset.metric];
    if (!spec || typeof window.uPlot !== 'function') return;
    const xs = runs.map((r) => r.t);
    const columns = spec.series.map((_, i) => runs.map((r) => spec.pick(r)[i]));
    const width = Math.max(200, Math.floor(measured) - 8 || 320);
    const opts = {
      width,
      height: 160,
      series: [{}, ...spec.series.map(([label, stroke]) => ({ label, stroke, width: 1.5 }))],
      axes: [{}, { size: 64, ...(spec.format ? { values: (_u, vals) => vals.map(spec.format) } : {}) }],
      legend: { live: false },
    };
    new window.uPlot(opts, [xs, ...columns], figure);
    figure.dataset.series = String(spec.series.length);
    figure.dataset.rendered = 'true';
  }

  async function drawCharts() {
    const figures = [...document.querySelectorAll('figure.chart[data-key]')];
    const keys = [...new Set(figures.map((f) => f.dataset.key))];
    // Measured before any chart is drawn: a drawn chart would change its neighbours' widths.
    const widths = new Map(figures.map((f) => [f, f.getBoundingClientRect().width]));
    await Promise.all(
      keys.map(async (key) => {
        const body = await getJson(`/api/history?key=${encodeURIComponent(key)}`);
        for (const f of figures.filter((x) => x.dataset.key === key)) draw(f, body.runs, widths.get(f));
      }),
    );
  }

  function watch() {
    const api = document.body.dataset.api;
    const shown = document.querySelector('.asof time')?.getAttribute('datetime') ?? null;
    if (!api) return;
    setInterval(async () => {
      try {
        const body = await getJson(api);
        if (body.generatedAt && body.generatedAt !== shown) location.reload();
      } catch {
        // The next poll tries again; the page keeps what it shows.
      }
    }, 60_000);
  }

  async function main() {
    try {
      await drawCharts();
    } finally {
      document.body.dataset.ready = 'true';
    }
    watch();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
  else main();
})();
