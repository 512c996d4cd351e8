// Khronos glTF-Validator on GLB files: prints one JSON report per file (counts and messages).
// Usage: node tests/js/validate_gltf.js FILE.glb ...
const fs = require('fs');
const validator = require('gltf-validator');

(async () => {
  const reports = [];
  for (const file of process.argv.slice(2)) {
    const r = await validator.validateBytes(new Uint8Array(fs.readFileSync(file)), {maxIssues: 100});
    reports.push({
      file,
      errors: r.issues.numErrors,
      warnings: r.issues.numWarnings,
      infos: r.issues.numInfos,
      hints: r.issues.numHints,
      messages: r.issues.messages.map(m => `${m.code} ${m.pointer || ''}: ${m.message}`),
    });
  }
  console.log(JSON.stringify(reports));
})().catch(e => { console.error(String(e)); process.exit(1); });
