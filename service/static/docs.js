// The API documentation: Swagger UI (served by the service, no CDN) over /openapi.json.
// An external script rather than an inline one: the pages run under a CSP without 'unsafe-inline'.
"use strict";

window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
