// The API page: Swagger UI (served by this service from an installed package) on /openapi.json.
// The API key the live page asked for (kept for this tab) is sent along, if there is one.
"use strict";
const apiKey = sessionStorage.getItem("lgmpose-api-key");
const withKey = (request) => {
  if (apiKey && !request.headers.Authorization) request.headers.Authorization = `Bearer ${apiKey}`;
  return request;
};
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  requestInterceptor: withKey,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
