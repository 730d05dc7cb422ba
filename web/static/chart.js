// A chart of one value over time, drawn as an SVG line over a filled area,
// with its current and peak figures and a text summary for screen readers.

import { $ } from "./dom.js";
import { describeSpan } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const CHART_W = 300;
const CHART_H = 60;

// lineChart adds a chart to the figure #chart-<name>, whose figures are
// #<name>-now and #<name>-peak. value reads a sample's value (null for none);
// format shows one.
export function lineChart(name, { value, format = (v) => v }) {
  const figure = $(`chart-${name}`);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${CHART_W} ${CHART_H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  const areaPath = document.createElementNS(SVG, "path");
  areaPath.setAttribute("class", "area");
  const linePath = document.createElementNS(SVG, "path");
  linePath.setAttribute("class", "line");
  svg.append(areaPath, linePath);
  const caption = figure.querySelector("figcaption").firstChild.textContent.trim();
  figure.append(svg);

  // draw draws the samples (interval seconds apart) against time over the
  // span (ms) that ends at the last one; a missing sample (server
  // unreachable) breaks the line.
  function draw(samples, span, interval) {
    const now = samples.length ? Date.parse(samples[samples.length - 1].time) : 0;
    const points = [];
    for (const s of samples) {
      const v = value(s);
      if (v === null) continue;
      points.push([CHART_W * (1 - (now - Date.parse(s.time)) / span), v]);
    }
    const peak = points.reduce((m, [, v]) => Math.max(m, v), 0);
    const y = (v) => CHART_H - 2 - (v / Math.max(peak, 1)) * (CHART_H - 6);
    let line = "";
    let area = "";
    let start = null;
    let prevX = -Infinity;
    const gap = (CHART_W * interval * 1000 * 2.5) / span;
    const closeArea = () => {
      if (start !== null) area += `L${prevX.toFixed(1)},${CHART_H}L${start.toFixed(1)},${CHART_H}Z`;
    };
    for (const [x, v] of points) {
      const cmd = x - prevX > gap ? "M" : "L";
      if (cmd === "M") {
        closeArea();
        start = x;
        area += `M${x.toFixed(1)},${CHART_H}`;
      }
      line += `${cmd}${x.toFixed(1)},${y(v).toFixed(1)}`;
      area += `L${x.toFixed(1)},${y(v).toFixed(1)}`;
      prevX = x;
    }
    closeArea();
    linePath.setAttribute("d", line);
    areaPath.setAttribute("d", area);

    const current = points.length ? format(points[points.length - 1][1]) : "–";
    $(`${name}-now`).textContent = current;
    $(`${name}-peak`).textContent = points.length ? format(peak) : "–";
    svg.setAttribute("aria-label", points.length
      ? `${caption} over the last ${describeSpan(span)}: now ${current}, peak ${format(peak)}`
      : `${caption}: no data`);
  }

  return { draw };
}
