// The TypeScript SDK of Gateway: openapi-fetch typed by the types openapi-typescript generates from the committed
// openapi/v1.json (global-setup.ts writes them to sdk/generated/ before the tests run).
import createClient from 'openapi-fetch';
import type { components, paths } from './generated/gateway-api';

export type Schemas = components['schemas'];

/** A client for one gateway; the API key, when given, goes as a bearer token (the document's ApiKey scheme). */
export function gatewayClient(baseUrl: string, apiKey?: string) {
  return createClient<paths>({ baseUrl, headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {} });
}
