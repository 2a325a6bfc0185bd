// Validates OpenAPI documents (files named on the command line) against the
// OpenAPI 3.1 schema, references resolved. Exit status 1 on any error.
import { Validator } from "@seriousme/openapi-schema-validator";
import { readFile } from "node:fs/promises";

let failed = false;
for (const file of process.argv.slice(2)) {
  const validator = new Validator();
  const doc = JSON.parse(await readFile(file, "utf8"));
  const res = await validator.validate(doc);
  if (!res.valid || validator.version !== "3.1") {
    failed = true;
    console.log(`${file}: invalid OpenAPI ${validator.version}:`);
    console.log(JSON.stringify(res.errors, null, 2));
  } else {
    console.log(`${file}: valid OpenAPI ${validator.version}`);
  }
}
process.exit(failed ? 1 : 0);
