// A form generated from a task's JSON Schema (GET /api/v1/tasks/{id} → "schema", engine/runtime/forms.py
// json_schema): labels in Chinese (the diagram's label) and English (the field's name), money and dates in the
// API's strict formats, enum choices, nested objects and repeated groups (arrays of objects).
//
// The browser does not judge the input: the form is sent as typed (`novalidate`) and the API's own 422
// answer — `errors` keyed by field path, e.g. "data.amount", "data.items.0.amount" — is shown on the fields.
import { el } from './common.js';

const MONEY_HINT = '如 1200000.00 · e.g. 1200000.00 (at most 2 decimals, no commas)';
const DATE_HINT = '日期，以 YYYY-MM-DD 提交 · a date, sent as YYYY-MM-DD';

/** "signed_at" → "Signed at". */
export function english(name) {
  const words = String(name).replace(/_/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function kindOf(prop) {
  if (Array.isArray(prop.enum)) return 'enum';
  if (prop.type === 'object') return 'object';
  if (prop.type === 'array') return 'array';
  if (prop.type === 'boolean') return 'boolean';
  if (prop.type === 'integer') return 'integer';
  if (prop.format === 'date') return 'date';
  if (prop.format === 'date-time') return 'datetime';
  if (Array.isArray(prop.examples) && prop.pattern) return 'money';
  if (Array.isArray(prop.type)) return 'number';
  if (prop.pattern && prop.pattern.includes('{64}')) return 'sha256';
  return 'string';
}

function labelFor(name, prop, required, id) {
  const zh = prop.title && prop.title !== name ? prop.title : '';
  return el('label', { for: id }, zh ? el('span', { lang: 'zh-CN' }, zh) : null,
    el('span', { class: zh ? 'lvyue-en' : '' }, english(name)), required ? el('span', { class: 'lvyue-error', title: 'required 必填' }, ' *') : null);
}

let serial = 0;

function input(name, prop, path, required) {
  const id = `f${++serial}`;
  const kind = kindOf(prop);
  let control;
  const common = { id, name: path, 'data-path': path, 'data-kind': kind, required: required || null };
  if (kind === 'enum') {
    control = el('select', common, el('option', { value: '' }, required ? '— choose 请选择 —' : '—'),
      ...prop.enum.map((v) => el('option', { value: v }, v)));
  } else if (kind === 'boolean') {
    control = el('input', { ...common, type: 'checkbox' });
  } else if (kind === 'integer') {
    control = el('input', { ...common, type: 'text', inputmode: 'numeric', pattern: '-?[0-9]+',
      min: prop.minimum, max: prop.maximum });
  } else if (kind === 'money' || kind === 'number') {
    control = el('input', { ...common, type: 'text', inputmode: 'decimal', placeholder: prop.examples ? prop.examples[0] : '',
      pattern: prop.pattern ? prop.pattern.replace(/^\^|\$$/g, '') : null, autocomplete: 'off' });
  } else if (kind === 'date') {
    // type=date keeps the value as YYYY-MM-DD whatever the locale shows; typing is still possible.
    control = el('input', { ...common, type: 'date', placeholder: DATE_HINT });
  } else if (kind === 'datetime') {
    control = el('input', { ...common, type: 'text', placeholder: '2026-07-01T09:00:00+08:00' });
  } else {
    control = el('input', { ...common, type: 'text', autocomplete: 'off',
      pattern: kind === 'sha256' ? '[0-9a-fA-F]{64}' : null, placeholder: kind === 'sha256' ? 'SHA-256 (64 hex)' : null });
  }
  const hint = kind === 'money' ? MONEY_HINT : kind === 'date' ? DATE_HINT : kind === 'sha256' ? '文档的 SHA-256 哈希 · the document\'s SHA-256' : '';
  return el('div', { class: 'lvyue-field', 'data-field': path }, labelFor(name, prop, required, id), control,
    hint ? el('span', { class: 'lvyue-hint' }, hint) : null,
    el('span', { class: 'lvyue-field-error', 'data-error-for': path, role: 'alert' }));
}

/** The properties in the diagram's order: the API's JSON sorts an object's keys, the task's `form` list does not. */
function ordered(schema, form) {
  const props = Object.entries(schema.properties || {});
  if (!Array.isArray(form) || !form.length) return props;
  const rank = new Map(form.map((f, i) => [f.name, i]));
  return props.sort(([a], [b]) => (rank.get(a) ?? 1e9) - (rank.get(b) ?? 1e9));
}

const childrenOf = (form, name) => (Array.isArray(form) ? (form.find((f) => f.name === name) || {}).fields : undefined);

function group(schema, path, form) {
  const required = new Set(schema.required || []);
  const nodes = [];
  for (const [name, prop] of ordered(schema, form)) {
    const at = `${path}.${name}`;
    const kind = kindOf(prop);
    if (kind === 'object') {
      nodes.push(el('fieldset', { 'data-field': at, 'data-kind': 'object' },
        el('legend', {}, prop.title ? el('span', { lang: 'zh-CN' }, prop.title) : null, el('span', { class: 'lvyue-en' }, english(name))),
        ...group(prop, at, childrenOf(form, name)), el('span', { class: 'lvyue-field-error', 'data-error-for': at, role: 'alert' })));
    } else if (kind === 'array') {
      nodes.push(repeated(name, prop, at, required.has(name), childrenOf(form, name)));
    } else {
      nodes.push(input(name, prop, at, required.has(name)));
    }
  }
  return nodes;
}

function repeated(name, prop, path, required, form) {
  const rows = el('div', { class: 'lvyue-rows' });
  const box = el('fieldset', { 'data-field': path, 'data-kind': 'array' },
    el('legend', {}, prop.title ? el('span', { lang: 'zh-CN' }, prop.title) : null, el('span', { class: 'lvyue-en' }, english(name)),
      required ? el('span', { class: 'lvyue-error' }, ' *') : null), rows);
  const renumber = () => {
    [...rows.children].forEach((row, i) => {
      row.querySelector('legend').textContent = `#${i + 1}`;
      row.dataset.field = `${path}.${i}`;
      for (const node of row.querySelectorAll('[data-path], [data-field], [data-error-for]')) {
        for (const attr of ['data-path', 'data-field', 'data-error-for', 'name']) {
          const value = node.getAttribute(attr);
          if (value && value.startsWith(`${path}.`)) {
            node.setAttribute(attr, value.replace(new RegExp(`^${path.replace(/\./g, '\\.')}\\.\\d+`), `${path}.${i}`));
          }
        }
      }
    });
  };
  const add = () => {
    const at = `${path}.${rows.children.length}`;
    const row = el('fieldset', { class: 'lvyue-row-item', 'data-field': at }, el('legend', {}, ''), ...group(prop.items || {}, at, form),
      el('button', { type: 'button', class: 'lvyue-remove', onclick: () => { row.remove(); renumber(); } }, 'Remove 删除'));
    rows.append(row);
    renumber();
  };
  box.append(el('button', { type: 'button', class: 'lvyue-add', onclick: add }, `Add ${english(name).toLowerCase()} 添加一项`),
    el('span', { class: 'lvyue-field-error', 'data-error-for': path, role: 'alert' }));
  if (required) add();
  return box;
}

/** The form's fields for a schema (the root path is "data", as the API names errors), in the order of `form`
 *  (the task's field list, GET /tasks/{id} "form") where given. */
export function buildFields(schema, form) {
  return group(schema || {}, 'data', form);
}

function readValue(control) {
  const kind = control.dataset.kind;
  if (kind === 'boolean') return control.checked;
  const raw = control.value.trim();
  if (raw === '') return undefined;
  if (kind === 'integer' && /^-?\d+$/.test(raw)) return Number(raw);
  return raw; // money, numbers and dates go as the strings typed: the API parses them strictly
}

function collect(container, path) {
  const out = {};
  for (const child of container.querySelectorAll(':scope > [data-field]')) {
    const at = child.dataset.field;
    const name = at.slice(path.length + 1);
    if (child.dataset.kind === 'object') {
      const value = collect(child, at);
      if (Object.keys(value).length) out[name] = value;
    } else if (child.dataset.kind === 'array') {
      const rows = child.querySelector(':scope > .lvyue-rows');
      out[name] = [...rows.children].map((row) => collect(row, row.dataset.field));
    } else {
      const control = child.querySelector('[data-path]');
      const value = readValue(control);
      if (value !== undefined) out[name] = value;
    }
  }
  return out;
}

/** The data object the form holds, in the shapes the API takes. */
export function readForm(container) {
  return collect(container, 'data');
}

/** Show the API's errors ({"data.amount": ["…"]}) on their fields; what has no field goes to `fallback`. */
export function showErrors(container, errors, fallback) {
  clearErrors(container);
  const unplaced = [];
  for (const [path, messages] of Object.entries(errors || {})) {
    let at = path;
    let slot = null;
    while (at && !(slot = container.querySelector(`[data-error-for="${CSS.escape(at)}"]`))) {
      at = at.includes('.') ? at.slice(0, at.lastIndexOf('.')) : '';
    }
    const text = `${path === at ? '' : `${path}: `}${messages.join('; ')}`;
    if (slot) {
      slot.textContent = slot.textContent ? `${slot.textContent} · ${text}` : text;
      slot.closest('[data-field]')?.classList.add('lvyue-invalid');
      const control = container.querySelector(`[data-path="${CSS.escape(at)}"]`);
      if (control) control.setAttribute('aria-invalid', 'true');
    } else {
      unplaced.push(`${path}: ${messages.join('; ')}`);
    }
  }
  if (fallback) fallback.textContent = unplaced.join(' · ');
  const first = container.querySelector('[aria-invalid=true]');
  if (first) first.focus();
}

export function clearErrors(container) {
  for (const slot of container.querySelectorAll('[data-error-for]')) slot.textContent = '';
  for (const node of container.querySelectorAll('.lvyue-invalid')) node.classList.remove('lvyue-invalid');
  for (const node of container.querySelectorAll('[aria-invalid]')) node.removeAttribute('aria-invalid');
}
