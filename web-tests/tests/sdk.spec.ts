import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test, expect, ADMIN_KEY } from '../fixtures/gateway';
import { webTests } from '../fixtures/paths';
import { gatewayClient, type Schemas } from '../sdk/client';

test('the generated SDK runs the core loop against a live gateway: declare, bind, publish, get, ack', async ({ gateway }) => {
  const client = gatewayClient(gateway.url, ADMIN_KEY);
  const vhost = `sdk-${Date.now().toString(36)}`;
  const path = { vhost };

  const created = await client.PUT('/api/vhosts/{vhost}', { params: { path } });
  expect(created.response.status).toBe(201);

  const exchange = await client.PUT('/api/vhosts/{vhost}/exchanges/{exchange}', {
    params: { path: { vhost, exchange: 'orders' } },
    body: { type: 'topic', durable: true },
  });
  expect(exchange.response.status).toBe(201);
  expect(exchange.data).toMatchObject({ name: 'orders', type: 'topic', durable: true, internal: false });

  const queue = await client.PUT('/api/vhosts/{vhost}/queues/{queue}', { params: { path: { vhost, queue: 'eu' } }, body: {} });
  expect(queue.response.status).toBe(201);
  expect(queue.data).toMatchObject({ name: 'eu', messages: 0 });

  const binding = await client.POST('/api/vhosts/{vhost}/bindings', {
    params: { path },
    body: { source: 'orders', destination: 'eu', destinationType: 'queue', routingKey: 'orders.eu.*' },
  });
  expect(binding.response.status).toBe(201);
  expect(binding.data?.id).toBeTruthy();

  const envelope: Schemas['PublishRequest'] = {
    routingKey: 'orders.eu.created',
    payload: '{"order":42}',
    properties: { contentType: 'application/json', deliveryMode: 2, headers: { attempt: 1, source: 'sdk' } },
  };
  const published = await client.POST('/api/vhosts/{vhost}/exchanges/{exchange}/publish', {
    params: { path: { vhost, exchange: 'orders' } }, body: envelope,
  });
  expect(published.data).toMatchObject({ routed: true, queues: 1, returned: false });

  const got = await client.POST('/api/vhosts/{vhost}/queues/{queue}/get', {
    params: { path: { vhost, queue: 'eu' } }, body: { max: 10, waitSeconds: 5, ackMode: 'manual' },
  });
  expect(got.data).toHaveLength(1);
  const delivery: Schemas['DeliveryDto'] = got.data![0];
  expect(delivery).toMatchObject({
    exchange: 'orders', routingKey: 'orders.eu.created', payload: '{"order":42}', payloadEncoding: 'string', redelivered: false, deliveryCount: 1,
  });
  expect(delivery.properties.headers).toEqual({ attempt: 1, source: 'sdk' });

  const unacked = await client.GET('/api/vhosts/{vhost}/queues/{queue}', { params: { path: { vhost, queue: 'eu' } } });
  expect(unacked.data).toMatchObject({ messagesReady: 0, messagesUnacknowledged: 1 });

  const acked = await client.POST('/api/vhosts/{vhost}/queues/{queue}/ack', {
    params: { path: { vhost, queue: 'eu' } }, body: { deliveryTags: [delivery.deliveryTag] },
  });
  expect(acked.response.status).toBe(204);
  const after = await client.GET('/api/vhosts/{vhost}/queues/{queue}', { params: { path: { vhost, queue: 'eu' } } });
  expect(after.data).toMatchObject({ messages: 0, messagesReady: 0, messagesUnacknowledged: 0 });

  // Refusals come back typed as the document's problem documents.
  const again = await client.POST('/api/vhosts/{vhost}/queues/{queue}/ack', {
    params: { path: { vhost, queue: 'eu' } }, body: { deliveryTags: [delivery.deliveryTag] },
  });
  expect(again.response.status).toBe(404);
  expect(again.error?.type).toBe('urn:gateway:problem:not-found');
  expect(again.error?.detail).toBeTruthy();

  const invalid = await client.POST('/api/vhosts/{vhost}/queues/{queue}/get', {
    params: { path: { vhost, queue: 'eu' } }, body: { max: 0 },
  });
  expect(invalid.response.status).toBe(400);
  expect(invalid.error).toMatchObject({ type: 'urn:gateway:problem:validation' });
  // The 400 of a validated body is the validation problem, with the failing fields.
  const validation = invalid.error;
  expect(validation && 'errors' in validation ? Object.keys(validation.errors ?? {}) : []).toEqual(['Max']);

  const unbound = await client.DELETE('/api/vhosts/{vhost}/bindings/{id}', { params: { path: { vhost, id: binding.data!.id } } });
  expect(unbound.response.status).toBe(204);
  const unroutable = await client.POST('/api/vhosts/{vhost}/exchanges/{exchange}/publish', {
    params: { path: { vhost, exchange: 'orders' } }, body: { routingKey: 'orders.eu.created', payload: 'x', mandatory: true },
  });
  expect(unroutable.response.status).toBe(422);

  // Without a key: 401, a problem document too.
  const anonymous = await gatewayClient(gateway.url).GET('/api/vhosts/{vhost}/queues/{queue}', { params: { path: { vhost, queue: 'eu' } } });
  expect(anonymous.response.status).toBe(401);
  expect(anonymous.error?.type).toBe('urn:gateway:problem:unauthenticated');
});

test('the generated SDK types and the code using them type-check (tsc --noEmit)', () => {
  const tsc = join(webTests, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '--noEmit', '-p', 'tsconfig.json'], { cwd: webTests, encoding: 'utf8' });
  expect(result.status, `tsc found errors:\n${result.stdout}${result.stderr}`).toBe(0);
});
