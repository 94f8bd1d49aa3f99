// The dashboard's only script (served from /assets, allowed by the CSP as 'self'): draws the job
// history charts with uPlot from /api/history, and reloads a page when its API twin has newer data.
// No inline handlers, no eval, no third-party origin.
(() => {
  const CHARTS = {
    duration: { series: [['duration (s)', '#3465a4']], pick: (r) => [r.durationS] },
    size: {
      series: [
        ['examined (bytes)', '#3465a4'],
        ['uploaded (bytes)', '#c17d11'],
      ],
      pick: (r) => [r.sizeExamined, r.bytesUploaded],
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

  function draw(figure, runs) {
    const spec = CHARTS[figure.dataset.metric];
    if (!spec || typeof window.uPlot !== 'function') return;
    const xs = runs.map((r) => r.t);
    const columns = spec.series.map((_, i) => runs.map((r) => spec.pick(r)[i]));
    const width = Math.max(240, Math.min(figure.clientWidth || 360, 520));
    const opts = {
      width,
      height: 160,
      series: [{}, ...spec.series.map(([label, stroke]) => ({ label, stroke, width: 1.5 }))],
      axes: [{}, { size: 70 }],
      legend: { live: false },
    };
    new window.uPlot(opts, [xs, ...columns], figure);
    figure.dataset.series = String(spec.series.length);
    figure.dataset.rendered = 'true';
  }

  async function drawCharts() {
    const figures = [...document.querySelectorAll('figure.chart[data-key]')];
    const keys = [...new Set(figures.map((f) => f.dataset.key))];
    await Promise.all(
      keys.map(async (key) => {
        const body = await getJson(`/api/history?key=${encodeURIComponent(key)}`);
        for (const f of figures.filter((x) => x.dataset.key === key)) draw(f, body.runs);
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
