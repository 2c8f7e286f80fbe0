import createClient from "openapi-fetch";
import type { components, paths } from "./schema";
import { Session, problemError } from "./session";

export const session = new Session();
session.resume(); // at module load: in parallel with the first screen's chunk

// The typed client: paths and bodies checked against dashboard/openapi.json at compile time.
export const api = createClient<paths>({ baseUrl: "", fetch: session.fetch });

export type Schemas = components["schemas"];

/** Unwrap an openapi-fetch answer: the data, or throw the problem (TanStack Query shows it). */
export async function data<T>(promise: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data: body, error, response } = await promise;
  if (!response.ok) throw problemError(response.status, response.statusText, error);
  return body as T;
}
