// scripts/client-generation's TypeScript client: the types openapi-typescript generated from
// /api/v1/openapi.json (./storelink.ts), called with openapi-fetch. `tsc --strict` checks each call
// against the document; running it checks storelink's answers. One call of each kind: list
// installs, an access token, add a connection (refused by the sandbox: a problem the client
// reads), create and list endpoints.
import createClient from "openapi-fetch";
import type { paths } from "./storelink.js";

const [base, key] = process.argv.slice(2);
const client = createClient<paths>({
  baseUrl: base,
  headers: { Authorization: `Bearer ${key}` },
});

function fail(what: string, detail: unknown): never {
  console.error(`client-generation (TypeScript): ${what}:`, detail);
  process.exit(1);
}

const installs = await client.GET("/api/v1/installs");
if (installs.data?.data.length !== 2) fail("list installs", installs.error);
const id = installs.data.data[0].id;

const token = await client.POST("/api/v1/installs/{id}/access-token", {
  params: { path: { id } },
});
if (!token.data?.access_token) fail("access token", token.error);

const url = `${base}/sandbox/receiver/typescript`;
const added = await client.POST("/api/v1/endpoints", {
  body: { url, rate_limit: 5, event_types: ["install.created", "install.revoked"] },
});
if (!added.data?.secret.startsWith("whsec_")) fail("create an endpoint", added.error);
const listed = await client.GET("/api/v1/endpoints");
if (!listed.data?.data.some((e) => e.url === url)) fail("list endpoints", listed.error);

// A Maropost connection with a made-up API key, through the tagged union's variant.
const refused = await client.POST("/api/v1/connections", {
  body: { platform: "maropost", store_domain: "typescript.example.com", api_key: "made-up" },
});
if (refused.data !== undefined || typeof refused.error?.status !== "number") {
  fail("a refused connection", refused);
}

console.log(
  `client-generation (TypeScript): ok; ${installs.data.data.length} installs, a token, ` +
    `a connection refused (${refused.error.status}), an endpoint added and listed`,
);
