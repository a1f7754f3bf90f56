// The monthly market bulletin (GET /api/v1/bulletin/monthly): key figures, amount by sector and the size
// distribution as chart.js bars, the groups as a table, and the CSV the API serves to the same token.
import './lvyue.css';
import './dashboard.css';

import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from 'chart.js';

import { api, ApiError, el, problemText, signIn, status, token } from './common.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

const $ = (id) => document.getElementById(id);
const charts = {};
window.lvyueCharts = charts;
const yuan = (text) => (text === null || text === undefined ? '' : Number(text).toLocaleString('zh-CN', { minimumFractionDigits: 2 }));
const pct = (text) => (text === null || text === undefined ? '–' : `${text} %`);
const DIMENSIONS = [['by_sector', 'sector 行业'], ['by_procedure', 'procedure 方式'], ['by_department', 'department 部门']];

function drawChart(id, config) {
  if (charts[id]) charts[id].destroy();
  charts[id] = new Chart($(id), { ...config, options: { animation: false, responsive: true, maintainAspectRatio: false,
    plugins: { legend: { display: false } }, ...config.options } });
}

function render(b) {
  const row = (term, value, id) => [el('dt', {}, term), el('dd', id ? { id } : {}, value)];
  $('figures').replaceChildren(
    ...row('Tenders 项目数', `${b.tenders.count} (awarded 已成交 ${b.tenders.awarded})`, 'fig-count'),
    ...row('Awarded amount 成交金额', yuan(b.tenders.amount), 'fig-amount'),
    ...row(`Change on ${b.trend.previous_month} 环比`, `count 数量 ${pct(b.trend.count_change_pct)} · amount 金额 ${pct(b.trend.amount_change_pct)}`, 'fig-trend'),
    ...row('Bids per tender 平均投标数', `${b.competition.bids_per_tender ?? '–'} (median 中位数 ${b.competition.median_bids ?? '–'}, single-bid 单一投标 ${b.competition.single_bid_tenders})`, 'fig-competition'),
    ...row('Active bidders 活跃投标人', `${b.bidders.active} (new 新进入 ${b.bidders.new_entrants})`, 'fig-bidders'),
    ...row('Won out of region 外地企业中标', `${pct(b.openness.count_share_pct)} of awards 按数量 · ${pct(b.openness.amount_share_pct)} of amount 按金额`, 'fig-openness'),
    ...row('Concentration 集中度', `HHI ${b.concentration.hhi ?? '–'} · top 5 前五 ${pct(b.concentration.top5_share_pct)}`, 'fig-concentration'),
    ...row('Contracts started 已进入履约监管', `${b.contracts.started} · ${yuan(b.contracts.amount)}`, 'fig-contracts'),
  );
  const rows = [];
  for (const [key, label] of DIMENSIONS) {
    for (const g of b[key]) {
      rows.push(el('tr', { 'data-dimension': key, 'data-key': g.key ?? '' }, el('td', {}, label), el('td', {}, g.key ?? '—'),
        el('td', { class: 'num' }, g.count), el('td', { class: 'num' }, g.awarded), el('td', { class: 'num' }, yuan(g.amount)),
        el('td', { class: 'num' }, g.share_pct ?? '')));
    }
  }
  $('groups').tBodies[0].replaceChildren(...(rows.length ? rows
    : [el('tr', {}, el('td', { colspan: 6, class: 'lvyue-muted' }, 'No tender in this month. 本月无项目。'))]));
  drawChart('chart-sector', { type: 'bar', data: { labels: b.by_sector.map((g) => g.key ?? '—'),
    datasets: [{ label: 'amount 金额 (CNY)', backgroundColor: '#1d4ed8', data: b.by_sector.map((g) => Number(g.amount)) }] },
    options: { scales: { y: { beginAtZero: true } } } });
  drawChart('chart-size', { type: 'bar', data: { labels: b.size.map((s) => s.band),
    datasets: [{ label: 'tenders 项目数', backgroundColor: '#0f766e', data: b.size.map((s) => s.count) }] },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } });
}

async function load() {
  const month = $('bulletin-month').value;
  try {
    render(await api(`/bulletin/monthly?month=${encodeURIComponent(month)}`));
    status(`Bulletin of ${month}. ${month} 月报。`);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
    status(`${problemText(e)} — no tender imported yet 尚未导入招标数据`, true);
  }
  document.body.dataset.ready = 'true';
}

async function download() {
  const month = $('bulletin-month').value;
  const response = await fetch(`/api/v1/bulletin/monthly?month=${encodeURIComponent(month)}&format=csv`,
    { headers: { Authorization: `Bearer ${token()}` } });
  if (!response.ok) throw new Error(`the bulletin could not be read (${response.status})`);
  const url = URL.createObjectURL(await response.blob());
  const link = el('a', { href: url, download: `lvyue-bulletin-${month}.csv` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function main() {
  const given = new URLSearchParams(window.location.search).get('month');
  const now = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit' }).format(new Date());
  $('bulletin-month').value = /^[0-9]{4}-[0-9]{2}$/.test(given || '') ? given : now.slice(0, 7);
  // 404 is "nothing imported yet", not a bad token: a signed-in caller gets the page with that said.
  await signIn(() => api(`/bulletin/monthly?month=${encodeURIComponent($('bulletin-month').value)}`).catch((e) => {
    if (e instanceof ApiError && e.status === 404) return api('/me');
    throw e;
  }));
  await load();
  $('show').addEventListener('click', () => load().catch((e) => status(problemText(e), true)));
  $('download-bulletin').addEventListener('click', () => download().catch((e) => status(problemText(e), true)));
}

main().catch((e) => status(problemText(e), true));
