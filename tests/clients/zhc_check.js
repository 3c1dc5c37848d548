// For each {model, file, keys}: the toZigbee keys of that real zigbee-herdsman-converters device definition that
// the given payload keys lack (tests/test_zigbee_conformance.py).
const z = require('zigbee-herdsman-converters');
const want = JSON.parse(process.argv[2]);  // [{model, file, keys}]
const out = [];
for (const w of want) {
  const mod = require(`zigbee-herdsman-converters/devices/${w.file}`);
  const defs = mod.definitions || mod.default || [];
  let def = defs.find((d) => d.model === w.model);
  if (!def) { out.push({model: w.model, error: 'no such model'}); continue; }
  def = z.prepareDefinition(def);
  const keys = new Set();
  for (const c of def.toZigbee || []) for (const k of c.key || []) keys.add(k);
  out.push({model: w.model, vendor: def.vendor, missing: w.keys.filter((k) => !keys.has(k))});
}
console.log(JSON.stringify(out));
