// A real OAuth 2 / OIDC issuer for the end-to-end tests: npm oauth2-mock-server, used as a library.
//
//   node scripts/oidc-mock.mjs            (NODE_PATH or .cache/npm must hold oauth2-mock-server)
//
// Listens on 127.0.0.1 (any free port; OIDC_MOCK_PORT to choose) and prints one JSON line:
//   {"issuer": "http://127.0.0.1:PORT"}
// Tokens: POST /token with grant_type=client_credentials&client_id=...&scope=...&resource=<MCP URL>
// (optionally groups=a,b; exp_offset, nbf_offset, iat_offset and iss forge what an attacker
// would want signed). The hook below sets aud from `resource` and sub/client_id from
// `client_id`: the plain CLI uses localhost as issuer and leaves them out.
// Commands on stdin, one per line: "rotate" publishes a new signing key (ES256) and prints
// {"rotated": "<kid>"}; EOF or SIGTERM stops the server.

import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", ".cache", "npm", "package.json"));
const { OAuth2Server } = await import(require.resolve("oauth2-mock-server"));

const server = new OAuth2Server();
await server.issuer.keys.generate("RS256");
await server.start(Number(process.env.OIDC_MOCK_PORT ?? 0), "127.0.0.1");
server.issuer.url = `http://127.0.0.1:${server.address().port}`;

server.service.on("beforeTokenSigning", (token, req) => {
  const body = req.body ?? {};
  if (typeof body.resource === "string") token.payload.aud = body.resource;
  if (typeof body.client_id === "string") {
    token.payload.sub = body.client_id;
    token.payload.client_id = body.client_id;
  }
  if (typeof body.groups === "string") token.payload.groups = body.groups.split(",").filter(Boolean);
  // For the attack tests: tokens this real issuer signs, with times or issuer it must not vouch for.
  const now = Math.floor(Date.now() / 1000);
  if (typeof body.exp_offset === "string") token.payload.exp = now + Number(body.exp_offset);
  if (typeof body.nbf_offset === "string") token.payload.nbf = now + Number(body.nbf_offset);
  if (typeof body.iat_offset === "string") token.payload.iat = now + Number(body.iat_offset);
  if (typeof body.iss === "string") token.payload.iss = body.iss;
});

const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
say({ issuer: server.issuer.url });

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  if (line.trim() === "rotate") {
    const jwk = await server.issuer.keys.generate("ES256");
    say({ rotated: jwk.kid });
  }
});
lines.on("close", stop);
