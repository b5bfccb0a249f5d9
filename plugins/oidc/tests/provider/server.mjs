// A real OpenID provider for the plica-oidc tests: the `oidc-provider` package, configured by the test.
//
//   node server.mjs CONFIG.json
//
// CONFIG: {"port": 0, "clients": [...oidc-provider client metadata...], "users": {"alice": {claims}},
//          "jwks": {"keys": [private JWKs]}, "cacheControl": "max-age=60"}
// Listens on 127.0.0.1 (port 0: an ephemeral one), issuer http://127.0.0.1:PORT, and prints
// "LISTENING PORT" on stdout once it serves. Login and consent are oidc-provider's own interaction pages;
// the device authorization grant (RFC 8628) is enabled.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const server = createServer();

server.listen(cfg.port || 0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: cfg.clients,
    jwks: cfg.jwks,
    async findAccount(ctx, id) {
      const user = cfg.users[id];
      if (!user) return undefined;
      return { accountId: id, async claims() { return { sub: id, ...user }; } };
    },
    claims: {
      openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    // The claims of the granted scopes go into the ID token itself, as Google's and Okta's do.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
    },
    pkce: { required: () => true },
    cookies: { keys: ['plica-oidc-test-cookie-key'] },
    ttl: { IdToken: cfg.idTokenTTL || 3600, DeviceCode: 600 },
  });
  // The tests choose how long the CA may keep the keys (Cache-Control on the JWKS) and count its fetches.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/jwks') {
      if (cfg.cacheControl) ctx.set('Cache-Control', cfg.cacheControl);
      process.stdout.write('JWKS FETCHED\n');
    }
  });
  server.on('request', provider.callback());
  process.stdout.write(`LISTENING ${port}\n`);
});

process.on('SIGTERM', () => { server.closeAllConnections(); server.close(() => process.exit(0)); });
