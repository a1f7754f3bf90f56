// The designer's page: bpmn-js Modeler + properties panel, Lvyue's lint on the canvas, deploy,
// versions and their diff, and the Lvyue helper (warning construct, statutory deadlines).
import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import 'bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css';
import '@bpmn-io/properties-panel/dist/assets/properties-panel.css';
import './lvyue.css';

import BpmnModeler from 'bpmn-js/lib/Modeler';
import { is } from 'bpmn-js/lib/util/ModelUtil';
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from 'bpmn-js-properties-panel';

import lvyueModdle from './lvyue-moddle.json';
import { api, ApiError, el, problemText, signIn, status } from './common.js';
import { NEW_DIAGRAM } from './new-diagram.js';
import { renderHelper } from './helper.js';
import { drawable } from './layout.js';

const $ = (id) => document.getElementById(id);

const modeler = new BpmnModeler({
  container: '#canvas',
  propertiesPanel: {
    parent: '#properties',
    layout: { groups: Object.fromEntries(['general', 'timer', 'condition', 'escalation', 'message', 'documentation']
      .map((id) => [id, { open: true }])) },
  },
  additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule],
  moddleExtensions: { lvyue: lvyueModdle },
});
window.lvyueModeler = modeler; // for tests and the curious: the page's one modeler

const state = { key: null, version: null, rules: [], problemIds: [], diffIds: [] };

// ------------------------------------------------------------------ opening diagrams
async function importXml(xml, key = null, version = null) {
  clearProblems();
  clearDiff();
  const shown = await drawable(xml);
  const { warnings } = await modeler.importXML(shown.xml);
  modeler.get('canvas').zoom('fit-viewport', 'auto');
  state.key = key;
  state.version = version;
  $('current').textContent = key ? `${key} v${version}` : 'new diagram 新流程';
  if (warnings.length) status(`imported with ${warnings.length} warning(s): ${warnings[0].message}`);
  else if (shown.laidOut) status('The diagram had no drawing (BPMN DI): laid out automatically; Deploy keeps this layout. 原图无布局信息，已自动布局。');
  document.body.dataset.laidOut = String(shown.laidOut);
  renderHelper(modeler, state, null);
  document.body.dataset.diagram = key ? `${key}@${version}` : 'new';
}

async function openDefinition(key, version) {
  const detail = version ? await api(`/definitions/${encodeURIComponent(key)}/versions/${version}`)
    : await api(`/definitions/${encodeURIComponent(key)}`);
  const xml = await api(`/definitions/${encodeURIComponent(key)}/versions/${detail.version}/xml`, { raw: true });
  await importXml(xml, key, detail.version);
  const url = new URL(window.location.href);
  url.searchParams.set('definition', key);
  url.searchParams.set('version', detail.version);
  history.replaceState(null, '', url);
  await loadVersions(key, detail.version);
  status(`Opened ${key} version ${detail.version} 已打开第${detail.version}版`
    + (document.body.dataset.laidOut === 'true' ? ' · no drawing in the XML: laid out automatically 无布局信息，已自动布局' : ''));
}

async function loadDefinitions(selected) {
  const { items } = await api('/definitions?limit=500');
  const select = $('definition-select');
  select.replaceChildren(...items.map((d) => el('option', { value: d.key, selected: d.key === selected },
    `${d.key} — ${d.name || ''} (v${d.version})`)));
  if (selected) await loadVersions(selected, null);
}

async function loadVersions(key, current) {
  let items = [];
  let cursor = null;
  do {
    const page = await api(`/definitions?key=${encodeURIComponent(key)}&limit=500${cursor ? `&cursor=${cursor}` : ''}`);
    items = items.concat(page.items);
    cursor = page.next_cursor;
  } while (cursor);
  items.sort((a, b) => b.version - a.version);
  const option = (d, sel) => el('option', { value: d.version, selected: sel }, `v${d.version} · ${d.deployed_at.slice(0, 16)}`);
  $('version-select').replaceChildren(...items.map((d) => option(d, d.version === current)));
  $('diff-to').replaceChildren(...items.map((d, i) => option(d, current ? d.version === current : i === 0)));
  $('diff-from').replaceChildren(...items.map((d, i) => option(d, i === Math.min(1, items.length - 1))));
  if ($('definition-select').value !== key) $('definition-select').value = key;
}

// ------------------------------------------------------------------ lint problems on the canvas
function shapeFor(id) {
  const registry = modeler.get('elementRegistry');
  const direct = registry.get(id);
  if (direct && !direct.labelTarget) return direct;
  // A problem inside an element (a timer definition, a condition) names the inner id: find its shape.
  return registry.find((element) => {
    const bo = element.businessObject;
    if (!bo || element.labelTarget) return false;
    if (bo.processRef && bo.processRef.id === id) return true;
    const inner = [...(bo.eventDefinitions || []), bo.conditionExpression, bo.loopCharacteristics, bo.extensionElements];
    return inner.some((x) => x && x.id === id);
  }) || null;
}

function clearProblems() {
  const canvas = modeler.get('canvas');
  for (const id of state.problemIds) canvas.removeMarker(id, 'lvyue-problem');
  modeler.get('overlays').remove({ type: 'lvyue-problem' });
  state.problemIds = [];
  $('problems').replaceChildren();
}

function showProblems(result) {
  clearProblems();
  const canvas = modeler.get('canvas');
  const overlays = modeler.get('overlays');
  const counted = new Map();
  const items = result.problems.map((p) => {
    const shape = p.element_id ? shapeFor(p.element_id) : null;
    if (shape) {
      canvas.addMarker(shape.id, 'lvyue-problem');
      state.problemIds.push(shape.id);
      counted.set(shape.id, (counted.get(shape.id) || 0) + 1);
    }
    const where = [p.element_id, p.line ? `line ${p.line}` : null].filter(Boolean).join(', ');
    const item = el('li', { class: 'lvyue-problem-item', 'data-element-id': p.element_id || '' },
      el('button', {
        type: 'button', class: 'lvyue-link', disabled: !shape,
        onclick: () => { modeler.get('selection').select(shape); canvas.scrollToElement(shape); },
      }, where || 'diagram 整个流程'),
      el('span', {}, ` ${p.message}`));
    return item;
  });
  for (const [id, n] of counted) {
    overlays.add(id, 'lvyue-problem', {
      position: { top: -12, right: 12 },
      html: `<div class="lvyue-problem-badge" title="${n} problem(s)" data-problem-for="${id}">${n}</div>`,
    });
  }
  $('problems').replaceChildren(...items);
  $('problems-summary').textContent = result.valid
    ? 'No problems: the diagram can be deployed. 无问题，可以部署。'
    : `${result.problems.length} problem(s) — not deployable. 发现${result.problems.length}个问题，不能部署。`;
  $('problems-summary').className = result.valid ? 'lvyue-ok' : 'lvyue-error';
}

async function currentXml() {
  const { xml } = await modeler.saveXML({ format: true });
  return xml;
}

async function validate() {
  const xml = await currentXml();
  const result = await api('/definitions/validate', { method: 'POST', body: xml, headers: { 'Content-Type': 'application/xml' } });
  showProblems(result);
  return result;
}

async function deploy() {
  const xml = await currentXml();
  try {
    const out = await api('/definitions', { method: 'POST', body: xml, headers: { 'Content-Type': 'application/xml' } });
    clearProblems();
    $('problems-summary').textContent = 'Deployed. 已部署。';
    $('problems-summary').className = 'lvyue-ok';
    await loadDefinitions(out.key);
    await loadVersions(out.key, out.version);
    state.key = out.key;
    state.version = out.version;
    $('current').textContent = `${out.key} v${out.version}`;
    const url = new URL(window.location.href);
    url.searchParams.set('definition', out.key);
    url.searchParams.set('version', out.version);
    history.replaceState(null, '', url);
    document.body.dataset.diagram = `${out.key}@${out.version}`;
    status(`Deployed ${out.key} as version ${out.version}. 已部署为第${out.version}版。`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 422) {
      await validate();
      status(`Not deployed: ${e.message} 未部署。`, true);
    } else {
      status(`Not deployed: ${problemText(e)} 未部署。`, true);
    }
  }
}

async function download() {
  const xml = await currentXml();
  const name = `${state.key || 'diagram'}${state.version ? `-v${state.version}` : ''}.bpmn`;
  const link = el('a', { href: URL.createObjectURL(new Blob([xml], { type: 'application/xml' })), download: name });
  document.body.append(link);
  link.click();
  link.remove();
}

// ------------------------------------------------------------------ versions and their diff
function clearDiff() {
  const canvas = modeler.get('canvas');
  for (const [id, cls] of state.diffIds) canvas.removeMarker(id, cls);
  state.diffIds = [];
  $('diff').replaceChildren();
}

async function compare() {
  const key = state.key || $('definition-select').value;
  const from = $('diff-from').value;
  const to = $('diff-to').value;
  if (!key || !from || !to) return;
  const diff = await api(`/definitions/${encodeURIComponent(key)}/diff?from=${from}&to=${to}`);
  clearDiff();
  const canvas = modeler.get('canvas');
  const onCanvas = state.key === key && String(state.version) === String(to);
  const mark = (id, cls) => {
    const shape = onCanvas ? shapeFor(id) : null;
    if (shape) { canvas.addMarker(shape.id, cls); state.diffIds.push([shape.id, cls]); }
  };
  const group = (title, entries, cls, render) => el('div', { class: `lvyue-diff-group ${cls}` },
    el('h3', {}, `${title} (${entries.length})`),
    el('ul', { class: 'lvyue-list' }, ...entries.map((e) => { mark(e.element_id, cls); return el('li', { 'data-element-id': e.element_id }, render(e)); })));
  const label = (e) => `${e.type} ${e.element_id}${e.name ? ` “${e.name}”` : ''}`;
  $('diff').append(
    el('p', { class: 'lvyue-muted' }, `${key}: v${from} → v${to}`),
    group('Added 新增', diff.added, 'lvyue-diff-added', label),
    group('Removed 删除', diff.removed, 'lvyue-diff-removed', label),
    group('Changed 修改', diff.changed, 'lvyue-diff-changed', (e) => el('span', {}, label(e),
      el('ul', {}, ...e.changes.map((c) => el('li', {}, `${c}: `, el('del', {}, e.details[c].from ?? '—'), ' → ',
        el('ins', {}, e.details[c].to ?? '—')))))),
  );
}

// ------------------------------------------------------------------ wiring
function guarded(fn) {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (e) {
      status(problemText(e), true);
    }
  };
}

async function main() {
  state.rules = (await signIn(() => api('/rules'))).items;
  const params = new URLSearchParams(window.location.search);
  const key = params.get('definition');
  await loadDefinitions(key);
  if (key) {
    await openDefinition(key, params.get('version'));
  } else {
    await importXml(NEW_DIAGRAM);
    status('New diagram: rename the process id, draw, validate, deploy. 新流程。');
  }
  $('open').addEventListener('click', guarded(() => openDefinition($('definition-select').value, $('version-select').value)));
  $('definition-select').addEventListener('change', guarded(() => loadVersions($('definition-select').value, null)));
  $('new').addEventListener('click', guarded(async () => {
    await importXml(NEW_DIAGRAM);
    history.replaceState(null, '', window.location.pathname);
  }));
  $('validate').addEventListener('click', guarded(async () => {
    const result = await validate();
    status(result.valid ? 'Valid. 校验通过。' : `${result.problems.length} problem(s). 校验未通过。`, !result.valid);
  }));
  $('deploy').addEventListener('click', guarded(deploy));
  $('download').addEventListener('click', guarded(download));
  $('compare').addEventListener('click', guarded(compare));
  $('upload').addEventListener('change', guarded(async (event) => {
    const file = event.target.files[0];
    if (file) await importXml(await file.text());
  }));
  const eventBus = modeler.get('eventBus');
  eventBus.on('selection.changed', ({ newSelection }) => renderHelper(modeler, state, newSelection[0] || null));
  eventBus.on('elements.changed', () => {
    const [selected] = modeler.get('selection').get();
    renderHelper(modeler, state, selected || null, true);
  });
  document.body.dataset.ready = 'true';
}

main().catch((e) => status(problemText(e), true));
