// Forms that call the API: the server's problem `detail` is the validation message, shown next to the form and tied
// to the offending field (aria-invalid, aria-describedby), so that the dashboard says exactly what the API says.

import { h, uid, announce } from './dom.js';
import { ApiError } from './api.js';

/**
 * Wires a form: on submit, runs `action(form)`; on failure shows the error in the form's alert region and marks the
 * fields it names. `nameField`: the input that names the object, marked when the problem is about the name (the API
 * checks names in the URL). Answers the form.
 */
export function apiForm(form, action, { nameField, success } = {}) {
  const error = h('div', { className: 'form-error', id: uid('error'), role: 'alert', hidden: true });
  form.append(error);
  form.noValidate = false;
  form.addEventListener('input', (event) => {
    if (event.target.getAttribute('aria-invalid') === 'true') clearInvalid(event.target, error);
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(form, error);
    const buttons = [...form.querySelectorAll('button[type=submit]')];
    buttons.forEach((b) => { b.disabled = true; });
    form.setAttribute('aria-busy', 'true');
    try {
      const result = await action(form);
      if (success) announce(typeof success === 'function' ? success(result) : success);
    } catch (e) {
      show(form, error, e, nameField);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
      form.removeAttribute('aria-busy');
    }
  });
  return form;
}

function clear(form, error) {
  error.hidden = true;
  error.replaceChildren();
  for (const control of form.querySelectorAll('[aria-invalid]')) clearInvalid(control, error);
}

function clearInvalid(control, error) {
  control.removeAttribute('aria-invalid');
  const ids = (control.getAttribute('aria-describedby') ?? '').split(' ').filter((id) => id && id !== error.id);
  if (ids.length) control.setAttribute('aria-describedby', ids.join(' ')); else control.removeAttribute('aria-describedby');
}

function show(form, error, e, nameField) {
  const message = e instanceof Error ? e.message : String(e);
  error.append(h('p', {}, message));
  const invalid = [];
  if (e instanceof ApiError) {
    const fields = e.fieldErrors.filter(([, m]) => m !== message);
    if (fields.length) error.append(h('ul', {}, fields.map(([name, m]) => h('li', {}, `${name}: ${m}`))));
    for (const [name] of e.fieldErrors) {
      const control = form.elements.namedItem(lowerFirst(name.split(/[.[]/)[0]));
      if (control instanceof HTMLElement) invalid.push(control);
    }
    if (!invalid.length && nameField && /\bname\b/i.test(message)) invalid.push(nameField);
  } else if (e?.field) {
    invalid.push(e.field);
  }
  error.hidden = false;
  for (const control of invalid) {
    control.setAttribute('aria-invalid', 'true');
    const ids = (control.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean);
    control.setAttribute('aria-describedby', [...ids, error.id].join(' '));
  }
  (invalid[0] ?? error).focus?.();
}

const lowerFirst = (text) => text.charAt(0).toLowerCase() + text.slice(1);

/** An Error about one form field (a client-side check, e.g. JSON that does not parse). */
export function fieldError(control, message) {
  const e = new Error(message);
  e.field = control;
  return e;
}

/**
 * A row's action button (small; `kind` secondary or danger): asks `confirm` first when given (its button says `text`),
 * then runs `action`, whose failure is announced as an error. `dataset` marks the button for later lookups.
 */
export function actionButton(text, label, action, { kind = 'secondary', confirm, dataset } = {}) {
  return h('button', {
    type: 'button', className: `${kind} small`, 'aria-label': label, dataset,
    onclick: async () => {
      if (confirm && !await confirmDialog(confirm, text)) return;
      try {
        await action();
      } catch (e) { announce(e.message, 'error'); }
    },
  }, text);
}

/** Asks for confirmation in a modal dialog; resolves true when confirmed. */
export function confirmDialog(question, confirmLabel = 'Delete') {
  return new Promise((resolve) => {
    const cancel = h('button', { type: 'button', className: 'secondary', value: 'cancel' }, 'Cancel');
    const confirm = h('button', { type: 'button', className: 'danger', value: 'confirm' }, confirmLabel);
    const titleId = uid('dialog');
    const dialog = h('dialog', { className: 'confirm', 'aria-labelledby': titleId },
      h('p', { id: titleId }, question),
      h('div', { className: 'dialog-buttons' }, cancel, confirm));
    const finish = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    cancel.addEventListener('click', () => finish(false));
    confirm.addEventListener('click', () => finish(true));
    dialog.addEventListener('cancel', (event) => { event.preventDefault(); finish(false); });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
