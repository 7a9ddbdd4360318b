// The admin page's quality section: per-annotator numbers and label agreement
// (GET /annotators/quality), and the count of flagged clicks to review.

import { api } from "./api.js";

const $ = (id) => document.getElementById(id);
const section = $("quality");

const num = (v, digits = 2) => (v == null ? "–" : Number(v).toFixed(digits));
const pct = (v) => (v == null ? "–" : `${(100 * v).toFixed(1)} %`);

function row(values) {
  const tr = document.createElement("tr");
  for (const v of values) {
    const td = document.createElement("td");
    td.textContent = v;
    tr.append(td);
  }
  return tr;
}

async function load() {
  try {
    const [q, flags] = await Promise.all([
      api("/annotators/quality?model_version=active"),
      api("/click-flags?model_version=active&limit=1"),
    ]);
    $("flag-count").textContent = String(flags.total);
    const tbody = $("quality-table").querySelector("tbody");
    if (!q.annotators.length) {
      const tr = row(["No clicks or labels yet."]);
      tr.firstChild.colSpan = 8;
      tr.firstChild.className = "muted";
      tbody.replaceChildren(tr);
    } else {
      tbody.replaceChildren(
        ...q.annotators.map((a) => {
          const tr = row([
            a.name,
            String(a.clicks),
            String(a.background_clicks),
            String(a.videos),
            num(a.seconds_per_click, 1),
            String(a.flagged),
            pct(a.flagged_share),
            a.inside_gt_share == null ? "–" : `${a.inside_gt} (${pct(a.inside_gt_share)})`,
          ]);
          tr.dataset.annotatorId = String(a.annotator_id);
          return tr;
        }),
      );
    }
    const ag = q.agreement;
    $("agreement-summary").textContent = ag.videos
      ? `${ag.videos} video${ag.videos === 1 ? "" : "s"} labelled by two or more annotators; mean Jaccard of their label sets ${num(ag.mean_jaccard)}; pairs: ` +
        ag.pairs.map((p) => `${p.names.join(" & ")} (${p.videos} videos, J ${num(p.mean_jaccard)})`).join(", ")
      : "No video is labelled by two or more annotators yet.";
    $("agreement-table").querySelector("tbody").replaceChildren(
      ...(ag.videos ? ag.classes.map((c) => row([c.class_name, num(c.kappa)])) : []),
    );
    section.dataset.loaded = "1";
  } catch (e) {
    $("agreement-summary").textContent = `Quality not loaded: ${e.detail || e.message}`;
  }
}

load();
