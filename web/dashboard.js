// The supervisors' dashboard: open alerts by severity and age, arrears by employer, contracts at risk,
// and a drill-down to the contract ledger and its instance view. Charts are chart.js, bundled from npm.
import './lvyue.css';
import './dashboard.css';

import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from 'chart.js';

import { api, chinaTime, codeLabel, deadline, deployedCodeNames, el, me, problemText, signIn, status, token, yuan } from './common.js';
import { decide } from './decide.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

const $ = (id) => document.getElementById(id);
const SEVERITIES = ['red', 'orange', 'yellow'];
const COLOURS = { red: '#dc2626', orange: '#f97316', yellow: '#eab308' };
const SEVERITY = { yellow: '黄色 yellow', orange: '橙色 orange', red: '红色 red' };
const charts = {};
window.lvyueCharts = charts;

const viewUrl = (instanceId) => `/instances/${encodeURIComponent(instanceId)}/view`;

function cell(content, cls) {
  return el('td', { class: cls }, content);
}

function contractButton(businessKey) {
  return el('button', { type: 'button', class: 'lvyue-link', 'data-business-key': businessKey,
    onclick: () => showLedger(businessKey).catch((e) => status(problemText(e), true)) }, businessKey);
}

function drawChart(id, config) {
  if (charts[id]) charts[id].destroy();
  charts[id] = new Chart($(id), { ...config, options: { animation: false, responsive: true, maintainAspectRatio: false,
    ...config.options } });
}

function renderCharts(data) {
  const open = data.open_alerts;
  drawChart('chart-alerts', {
    type: 'bar',
    data: {
      labels: open.age_buckets,
      datasets: SEVERITIES.map((s) => ({ label: SEVERITY[s], backgroundColor: COLOURS[s],
        data: open.age_buckets.map((bucket) => open.by_age[s][bucket]) })),
    },
    options: { scales: { x: { stacked: true, title: { display: true, text: 'days overdue 逾期天数' } },
      y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
  });
  const arrears = data.arrears_by_employer;
  drawChart('chart-arrears', {
    type: 'bar',
    data: {
      labels: arrears.map((a) => a.name || a.org),
      datasets: [{ label: '欠款 arrears (CNY)', backgroundColor: '#1d4ed8', data: arrears.map((a) => Number(a.amount)) }],
    },
    options: { indexAxis: 'y', plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true } } },
  });
}

function renderTables(data) {
  const open = data.open_alerts;
  for (const s of SEVERITIES) $(`count-${s}`).textContent = open.by_severity[s];
  const risky = data.contracts_at_risk;
  $('risk').tBodies[0].replaceChildren(...(risky.length ? risky.map((c) => el('tr',
    { class: `severity-${c.worst_severity}`, 'data-business-key': c.business_key },
    cell(contractButton(c.business_key)), cell(c.project_name || ''), cell(c.employer_name || c.employer || ''),
    cell(SEVERITY[c.worst_severity]), cell(c.open_alerts, 'num'), cell(c.max_days_overdue, 'num'),
    cell(yuan(c.arrears), 'num'), cell(el('a', { href: viewUrl(c.instance_id), class: 'lvyue-instance-link' }, 'view 查看'), ' · ',
      el('a', { href: `/contracts/${encodeURIComponent(c.business_key)}`, class: 'lvyue-contract-link' }, 'contract 合同'))))
    : [el('tr', {}, el('td', { colspan: 8, class: 'lvyue-muted' }, 'No contract at risk. 暂无风险合同。'))]));
  // A supervisor of the alert's department (or an admin) decides a red alert here or on the contract's page.
  const mayDecide = (a) => a.severity === 'red' && who && (who.role === 'admin'
    || (who.role === 'supervisor' && who.departments.includes(a.department)));
  $('alerts').tBodies[0].replaceChildren(...(open.items.length ? open.items.map((a) => {
    const action = el('td', { class: 'lvyue-action' });
    if (mayDecide(a)) action.append(decide(a, action));
    return el('tr', { class: `severity-${a.severity}`, 'data-alert-id': a.id, 'data-code': a.code },
      cell(SEVERITY[a.severity]), cell(codeLabel(a.code, names)), cell(contractButton(a.business_key)),
      cell(a.responsible_name || a.responsible_org || ''), cell(a.age_days, 'num'), cell(a.days_overdue, 'num'),
      cell(yuan(a.amount_overdue), 'num'), cell(a.status), action);
  }) : [el('tr', {}, el('td', { colspan: 9, class: 'lvyue-muted' }, 'No open alert. 暂无未处理预警。'))]));
  $('generated').replaceChildren('As of 截至 ', chinaTime(data.generated_at));
}

async function showLedger(businessKey) {
  const ledger = await api(`/contracts/${encodeURIComponent(businessKey)}`);
  $('ledger-key').textContent = ledger.business_key;
  $('ledger-view').href = viewUrl(ledger.instance_id);
  const row = (term, value) => [el('dt', {}, term), el('dd', {}, value)];
  $('ledger-summary').replaceChildren(
    ...row('Project 项目', `${ledger.project_name || ''} ${ledger.project_code ? `(${ledger.project_code})` : ''}`),
    ...row('Status 状态', el('span', { class: `lvyue-badge status-${ledger.status}` }, ledger.status)),
    ...row('Department 监管部门', ledger.department ? `${ledger.department.name} (${ledger.department.code})` : ''),
    ...row('Parties 当事人', ledger.parties.map((p) => `${p.role}: ${p.name || p.org_code}`).join(' · ')),
    ...row('Contract amount 合同金额', yuan(ledger.amounts.contract_amount)),
    ...row('Paid 已付', yuan(ledger.amounts.paid)),
    ...row('Arrears 欠款', el('strong', { id: 'ledger-arrears' }, yuan(ledger.arrears_amount))),
  );
  $('ledger-milestones').tBodies[0].replaceChildren(...ledger.milestones.map((m) => el('tr', { 'data-no': m.no },
    cell(m.no, 'num'), cell(m.name || ''), cell(yuan(m.amount), 'num'), cell(m.planned_date || ''),
    cell(m.delivered_at || ''), cell(m.accepted_at || ''), cell(deadline(m.payment_due_at)),
    cell(yuan(m.paid_amount), 'num'), cell(yuan(m.outstanding), 'num'), cell(m.status))));
  $('ledger-alerts').replaceChildren(...(ledger.alerts.length ? ledger.alerts.map((a) => el('li',
    { class: `lvyue-alert severity-${a.severity}` }, codeLabel(a.code, names), ` · ${SEVERITY[a.severity]} · last day 最后期限 `,
    deadline(a.due_at), a.amount_overdue ? ` · ${yuan(a.amount_overdue)}` : '',
    a.legal_basis ? el('div', { class: 'lvyue-basis' }, a.legal_basis) : null))
    : [el('li', { class: 'lvyue-muted' }, 'no open alerts 无未处理预警')]));
  $('ledger').hidden = false;
  $('ledger').scrollIntoView({ block: 'nearest' });
}

async function downloadReport() {
  const month = $('report-month').value;
  const response = await fetch(`/api/v1/reports/monthly?month=${encodeURIComponent(month)}&format=csv`,
    { headers: { Authorization: `Bearer ${token()}` } });
  if (!response.ok) throw new Error(`the report could not be read (${response.status})`);
  const url = URL.createObjectURL(await response.blob());
  const link = el('a', { href: url, download: `lvyue-report-${month}.csv` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function load() {
  const data = await api('/reports/dashboard');
  renderTables(data);
  renderCharts(data);
  status(`Loaded ${new Date().toLocaleTimeString('zh-CN', { hour12: false })}. 已加载。`);
  document.body.dataset.ready = 'true';
}

let who = null;
let names = {};

async function main() {
  await signIn(() => api('/reports/dashboard'));
  who = await me();
  names = await deployedCodeNames();
  const now = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit' }).format(new Date());
  $('report-month').value = now.slice(0, 7);
  await load();
  $('refresh').addEventListener('click', () => load().catch((e) => status(problemText(e), true)));
  $('ledger-close').addEventListener('click', () => { $('ledger').hidden = true; });
  $('download-report').addEventListener('click', () => downloadReport().catch((e) => status(problemText(e), true)));
}

main().catch((e) => status(problemText(e), true));
