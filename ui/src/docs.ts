import "./docs.css";
// The API reference at /docs: Swagger UI, bundled from npm (no CDN), reading
// this server's /openapi.json. "Try it out" sends requests to this server
// only; a key the dashboard holds in this tab is offered as the bearer token.
declare global {
  interface Window {
    SwaggerUIBundle: (opts: Record<string, unknown>) => { preauthorizeApiKey?: unknown; authActions: { authorize: (a: unknown) => void } };
  }
}

const ui = window.SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#docs',
  deepLinking: true,
  validatorUrl: null, // never ask an outside validator about the spec
  tryItOutEnabled: false,
  persistAuthorization: false,
  withCredentials: false,
  onComplete: () => {
    const key = sessionStorage.getItem('lokihooks.apiKey');
    if (key) ui.authActions.authorize({ bearer: { name: 'bearer', schema: { type: 'http', scheme: 'bearer' }, value: key } });
  },
});

