// GOV.UK Frontend's components (error summary focus, etc.), as a module: no inline script.
import { initAll } from "./govuk/govuk-frontend.min.js";

initAll();
