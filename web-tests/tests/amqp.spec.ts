import { connect, type ConsumeMessage } from 'amqplib';
import { test, expect, ADMIN_KEY } from '../fixtures/gateway';

/**
 * A second AMQP client language: amqplib (Node.js) against the gateway's AMQP 0-9-1 listener, signing in with the
 * bootstrap administrator's name and key, as RabbitMQ.Client does in tests/Gateway.Amqp.Tests.
 */
test('amqplib publishes with confirms, consumes and acks through the gateway', async ({ gateway, api }) => {
  const vhost = await api.createVhost('amqplib');
  await api.send('PUT', `/api/vhosts/${encodeURIComponent(vhost)}/permissions/admin`, { configure: '.*', write: '.*', read: '.*' });
  const connection = await connect({
    protocol: 'amqp', hostname: '127.0.0.1', port: gateway.amqpPort, username: 'admin', password: ADMIN_KEY, vhost, heartbeat: 10,
  });
  try {
    const channel = await connection.createConfirmChannel();
    await channel.assertExchange('orders', 'topic', { durable: true });
    const { queue } = await channel.assertQueue('eu-orders', { durable: true });
    await channel.bindQueue(queue, 'orders', 'orders.eu.*');

    for (let i = 0; i < 3; i++) {
      channel.publish('orders', 'orders.eu.created', Buffer.from(`order ${i}`), {
        persistent: true, contentType: 'text/plain', messageId: `m-${i}`, headers: { attempt: 1, source: 'amqplib' },
      });
    }
    await channel.waitForConfirms();
    expect(await api.queue(vhost, queue)).toMatchObject({ messagesReady: 3 });

    const received: ConsumeMessage[] = [];
    const allThree = new Promise<void>((resolve) => {
      void channel.consume(queue, (message) => {
        if (!message) return;
        received.push(message);
        channel.ack(message);
        if (received.length === 3) resolve();
      }, { noAck: false });
    });
    await allThree;
    expect(received.map((m) => m.content.toString())).toEqual(['order 0', 'order 1', 'order 2']);
    expect(received[0].properties).toMatchObject({ contentType: 'text/plain', messageId: 'm-0', deliveryMode: 2 });
    expect(received[0].properties.headers).toMatchObject({ attempt: 1, source: 'amqplib' });
    expect(received[0].fields).toMatchObject({ exchange: 'orders', routingKey: 'orders.eu.created', redelivered: false });

    // The acks settle the messages in the engine: the HTTP API sees an empty queue.
    await expect.poll(async () => (await api.queue(vhost, queue)).messages).toBe(0);
    await channel.close();
  } finally {
    await connection.close();
  }
});
