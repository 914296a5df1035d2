// The one place the ops pages build HTML: every value is escaped here.
export const escapeHtml = (value: unknown): string =>
  String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A tagged template: interpolated values are escaped unless already marked safe with `raw`. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((value, i) => {
    const text = Array.isArray(value) ? value.map((v) => (v instanceof SafeHtml ? v.text : escapeHtml(v))).join('') : value instanceof SafeHtml ? value.text : escapeHtml(value);
    out += text + strings[i + 1]!;
  });
  return new SafeHtml(out);
}

export class SafeHtml {
  constructor(readonly text: string) {}
}

export function page(title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · exotel-caller</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}code{font-size:.9em}.outcome{font-weight:bold}form{margin-bottom:1rem}input[type=search]{width:24rem;padding:.3rem}
</style></head>
<body><h1><a href="/ops">exotel-caller</a> · ${title}</h1>
${body}
</body></html>`.text;
}
