// A hand-written SVG chart, the same layout as kernel-sim's (crates/kernel-sim/src/svg.rs):
// panels stacked vertically over a shared x axis (blocks).

const WIDTH = 960;
const PANEL_HEIGHT = 290;
const TOP = 100;
const GAP = 70;
const LEFT = 88;
const RIGHT = 30;

export const COLORS = { snapgc: '#1f77b4', stock: '#d62728', live: '#2ca02c', other: '#9467bd' };

/** A "nice" tick step (1, 2 or 5 times a power of ten) giving about `target` ticks. */
export function niceStep(range, target) {
  if (!(range > 0) || !Number.isFinite(range)) return 1;
  const raw = range / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  const nice = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10;
  return nice * magnitude;
}

function fmtTick(v, step) {
  if (step >= 1) return v.toFixed(0);
  return v.toFixed(Math.max(0, -Math.floor(Math.log10(step))));
}

const escape = s => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * @param {string} title
 * @param {string} subtitle
 * @param {string} xLabel
 * @param {Array<{ title: string, yLabel: string, lines: Array<{ label: string, color: string, dashed?: boolean, points: Array<[number, number]> }> }>} panels
 */
export function chart(title, subtitle, xLabel, panels) {
  const height = TOP + panels.length * (PANEL_HEIGHT + GAP) + 10;
  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
  );
  out.push('<rect width="100%" height="100%" fill="white"/>');
  out.push(
    `<text x="${WIDTH / 2}" y="30" font-size="20" font-weight="bold" text-anchor="middle">${escape(title)}</text>`,
  );
  out.push(
    `<text x="${WIDTH / 2}" y="54" font-size="13" fill="#444" text-anchor="middle">${escape(subtitle)}</text>`,
  );
  let xMax = 1;
  for (const p of panels) for (const l of p.lines) for (const [x] of l.points) xMax = Math.max(xMax, x);
  const plotW = WIDTH - LEFT - RIGHT;
  panels.forEach((panel, i) => {
    const top = TOP + i * (PANEL_HEIGHT + GAP);
    const bottom = top + PANEL_HEIGHT;
    let yMaxData = 0;
    for (const l of panel.lines) for (const [, y] of l.points) yMaxData = Math.max(yMaxData, y);
    const yStep = niceStep(yMaxData > 0 ? yMaxData : 1, 5);
    const yMax = Math.max(1, Math.ceil(yMaxData / yStep)) * yStep;
    const xStep = niceStep(xMax, 8);
    const sx = x => LEFT + (x / xMax) * plotW;
    const sy = y => bottom - (y / yMax) * PANEL_HEIGHT;
    out.push(`<text x="${LEFT}" y="${top - 10}" font-size="15" font-weight="bold">${escape(panel.title)}</text>`);
    for (let y = 0; y <= yMax + yStep / 2; y += yStep) {
      const py = sy(y).toFixed(1);
      out.push(
        `<line x1="${LEFT}" y1="${py}" x2="${(LEFT + plotW).toFixed(1)}" y2="${py}" stroke="#e3e3e3"/><text x="${(LEFT - 6).toFixed(1)}" y="${(Number(py) + 4).toFixed(1)}" font-size="12" text-anchor="end">${fmtTick(y, yStep)}</text>`,
      );
    }
    for (let x = 0; x <= xMax + xStep / 100; x += xStep) {
      const px = sx(x).toFixed(1);
      out.push(
        `<line x1="${px}" y1="${bottom}" x2="${px}" y2="${(bottom + 5).toFixed(1)}" stroke="#333"/><text x="${px}" y="${(bottom + 19).toFixed(1)}" font-size="12" text-anchor="middle">${fmtTick(x, xStep)}</text>`,
      );
    }
    out.push(
      `<rect x="${LEFT}" y="${top}" width="${plotW}" height="${PANEL_HEIGHT}" fill="none" stroke="#333"/>`,
    );
    out.push(
      `<text x="${(LEFT + plotW / 2).toFixed(1)}" y="${(bottom + 38).toFixed(1)}" font-size="13" text-anchor="middle">${escape(xLabel)}</text>`,
    );
    const cy = (top + PANEL_HEIGHT / 2).toFixed(1);
    out.push(
      `<text x="20" y="${cy}" font-size="13" text-anchor="middle" transform="rotate(-90 20 ${cy})">${escape(panel.yLabel)}</text>`,
    );
    for (const line of panel.lines) {
      if (line.points.length === 0) continue;
      const d = line.points
        .map(([x, y], j) => `${j === 0 ? 'M' : ' L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
        .join('');
      const dash = line.dashed ? ' stroke-dasharray="6 4"' : '';
      out.push(
        `<path d="${d}" fill="none" stroke="${line.color}" stroke-width="2"${dash} stroke-linejoin="round"/>`,
      );
    }
    const legendH = 8 + 20 * panel.lines.length;
    out.push(
      `<rect x="${LEFT + 10}" y="${top + 10}" width="380" height="${legendH}" fill="white" fill-opacity="0.9" stroke="#bbb"/>`,
    );
    panel.lines.forEach((line, j) => {
      const ly = top + 28 + 20 * j;
      const dash = line.dashed ? ' stroke-dasharray="6 4"' : '';
      out.push(
        `<line x1="${LEFT + 20}" y1="${ly - 4}" x2="${LEFT + 50}" y2="${ly - 4}" stroke="${line.color}" stroke-width="3"${dash}/><text x="${LEFT + 58}" y="${ly}" font-size="12">${escape(line.label)}</text>`,
      );
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
