// Copies the front-end packages npm installed into static/vendor, where Flask serves them.
import { cpSync, mkdirSync } from "node:fs";

mkdirSync("static/vendor/swagger-ui", { recursive: true });
cpSync("node_modules/htmx.org/dist/htmx.min.js", "static/vendor/htmx.min.js");
for (const file of ["swagger-ui.css", "swagger-ui-bundle.js"]) {
  cpSync(`node_modules/swagger-ui-dist/${file}`, `static/vendor/swagger-ui/${file}`);
}
