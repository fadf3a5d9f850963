// What this server's API exposes beyond the spec the UI was built from,
// read from its own OpenAPI document (/openapi.json, public). Panels for
// fields that arrive later (circuit breakers, outbox lag) appear once the
// served document has them, without a new build.
type Obj = Record<string, any>; // an OpenAPI document, read loosely

let cached: Promise<Obj> | undefined;

export function served(): Promise<Obj> {
  cached ??= fetch('/openapi.json', { headers: { Accept: 'application/json' } })
    .then((r) => (r.ok ? r.json() : {}))
    .catch(() => ({}));
  return cached;
}

function deref(doc: Obj, s: Obj | undefined): Obj | undefined {
  const ref = s?.$ref as string | undefined;
  if (!ref) return s;
  return doc.components?.schemas?.[ref.replace('#/components/schemas/', '')];
}

/** hasProperty reports whether a component schema has the property. */
export async function hasProperty(schema: string, prop: string): Promise<boolean> {
  const doc = await served();
  return Boolean(doc.components?.schemas?.[schema]?.properties?.[prop]);
}

export interface LagSource {
  path: string;
  fields: string[];
}

/**
 * lagSources finds GET operations without path parameters whose answer has
 * outbox-lag fields (a property whose name says outbox and lag).
 */
export async function lagSources(): Promise<LagSource[]> {
  const doc = await served();
  const out: LagSource[] = [];
  for (const [path, item] of Object.entries<Obj>(doc.paths ?? {})) {
    const get = item.get as Obj | undefined;
    if (!get || path.includes('{')) continue;
    const schema = deref(doc, get.responses?.['200']?.content?.['application/json']?.schema);
    const fields = Object.keys(schema?.properties ?? {}).filter((k) => /outbox/i.test(k) && /lag/i.test(k));
    if (fields.length) out.push({ path, fields });
  }
  return out;
}
