// Text from Calendly as Postgres can hold it. Postgres text and jsonb refuse U+0000 and lone
// UTF-16 surrogates (22P05), so one such character in a name would make a delivery or a listing
// fail every time. They are replaced with U+FFFD at the boundary, where Calendly data enters.

const NUL = String.fromCharCode(0);

/** The string with NUL and lone surrogates replaced by U+FFFD. */
export function cleanText(value: string): string {
  const wellFormed = value.isWellFormed() ? value : value.toWellFormed();
  return wellFormed.includes(NUL) ? wellFormed.replaceAll(NUL, '\uFFFD') : wellFormed;
}

/** Every string in a parsed JSON value (keys too) cleaned; the value itself is not changed. */
export function cleanJson(value: unknown): unknown {
  if (typeof value === 'string') return cleanText(value);
  if (Array.isArray(value)) return value.map(cleanJson);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[cleanText(key)] = cleanJson(item);
    return out;
  }
  return value;
}

/** JSON.parse, with every string cleaned. */
export function parseCleanJson(text: string): unknown {
  return cleanJson(JSON.parse(text));
}
