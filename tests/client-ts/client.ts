// client.ts: a small portal-style client of vmlogind, typed by the types openapi-typescript
// generates from api/openapi.yaml (./vmlogind.d.ts, made by the test) and calling through
// openapi-fetch. tests/client-ts/run.mjs type-checks it with tsc, compiles it and runs it
// against the real daemon. The @ts-expect-error lines prove that the types are precise: were a
// body, a path parameter or a problem's code untyped, tsc would fail on them as unused.
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./vmlogind.js";

export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];
export type Principal = Schemas["Principal"];
export type LoginGrant = Schemas["LoginGrant"];
export type Operation = Schemas["Operation"];
export type VirtualMachine = Schemas["VirtualMachine"];
export type Api = Client<paths>;

/** A refusal: the HTTP status and the RFC 9457 problem, whose stable `code` a portal reads. */
export class ApiProblem extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(status: number, problem: Problem) {
    super(`${status} ${problem.code}: ${problem.detail ?? problem.title}`);
    this.status = status;
    this.problem = problem;
  }
  get code(): string {
    return this.problem.code;
  }
}

function refused(response: Response, error: Problem | undefined): never {
  if (error === undefined || typeof error.code !== "string")
    throw new Error(`${response.status} without a problem body`);
  throw new ApiProblem(response.status, error);
}

/** A client that sends the caller's token (an MSAL access token in a portal; an API key here). */
export function connect(baseUrl: string, token: string): Api {
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
}

/** Every VM of the inventory (following nextLink's cursor), optionally of one resource group. */
export async function listVms(api: Api, subscription?: string, resourceGroup?: string): Promise<VirtualMachine[]> {
  const out: VirtualMachine[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const { data, error, response } = await api.GET("/v1/virtualMachines", {
      params: { query: { subscription, resourceGroup, cursor, limit: 5 } },
    });
    if (data === undefined) refused(response, error);
    out.push(...data.value);
    if (data.nextLink === undefined) return out;
    cursor = new URL(data.nextLink, "http://x").searchParams.get("cursor") ?? undefined;
  }
  throw new Error("too many pages");
}

/** Grants user login at scope to a user by UPN: the grant and its ETag. */
export async function grantUserLogin(api: Api, scope: string, upn: string): Promise<{ grant: LoginGrant; etag: string }> {
  const { data, error, response } = await api.POST("/v1/loginGrants", {
    body: { scope, role: "user", principal: { upn } },
  });
  if (data === undefined) refused(response, error);
  return { grant: data, etag: response.headers.get("ETag") ?? "" };
}

/** Revokes a grant only if it is still as the caller read it (If-Match). */
export async function revokeGrant(api: Api, grantId: string, etag: string): Promise<LoginGrant> {
  const { data, error, response } = await api.DELETE("/v1/loginGrants/{grantId}", {
    params: { path: { grantId }, header: { "If-Match": etag } },
  });
  if (data === undefined) refused(response, error);
  return data;
}

/** The grant and its current ETag. */
export async function getGrant(api: Api, grantId: string): Promise<{ grant: LoginGrant; etag: string }> {
  const { data, error, response } = await api.GET("/v1/loginGrants/{grantId}", { params: { path: { grantId } } });
  if (data === undefined) refused(response, error);
  return { grant: data, etag: response.headers.get("ETag") ?? "" };
}

/** Enables Entra login on one VM: the operation that does it (202). */
export async function enableLogin(api: Api, s: string, rg: string, name: string): Promise<Operation> {
  const { data, error, response } = await api.PUT(
    "/v1/subscriptions/{s}/resourceGroups/{rg}/virtualMachines/{name}/entraLogin",
    { params: { path: { s, rg, name } }, body: { mode: "enforce" } },
  );
  if (data === undefined) refused(response, error);
  return data;
}

const FINAL: ReadonlyArray<Operation["status"]> = ["Succeeded", "Failed", "PartiallySucceeded", "Canceled"];

/** Follows an operation until it ends (or timeoutMs passes): its last state. */
export async function followOperation(api: Api, operationId: string, timeoutMs: number): Promise<Operation> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const { data, error, response } = await api.GET("/v1/operations/{operationId}", {
      params: { path: { operationId } },
    });
    if (data === undefined) refused(response, error);
    if (FINAL.includes(data.status) || Date.now() > end) return data;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The principal's display text, the same for a grant's and an access entry's principal. */
export function principalLabel(p: Principal): string {
  return p.upn ?? p.displayName ?? p.id ?? "?";
}

// ---- what the types refuse (each line must be an error, or tsc fails) ------------------------
export async function typeChecks(api: Api): Promise<void> {
  // @ts-expect-error: role is required by the grant request
  await api.POST("/v1/loginGrants", { body: { scope: "/subscriptions/x", principal: { upn: "a@b" } } });
  // @ts-expect-error: role is one of administrator and user
  await api.POST("/v1/loginGrants", { body: { scope: "/subscriptions/x", role: "owner", principal: { upn: "a@b" } } });
  // @ts-expect-error: the grant's path needs grantId
  await api.GET("/v1/loginGrants/{grantId}", { params: { path: {} } });
  const { error } = await api.GET("/v1/loginGrants/{grantId}", { params: { path: { grantId: "x" } } });
  // @ts-expect-error: a problem's code is a string, not a number
  const n: number | undefined = error?.code;
  void n;
  const op = await followOperation(api, "x", 0);
  // @ts-expect-error: an operation's status is one of its enum
  const done: boolean = op.status === "Done";
  void done;
}
