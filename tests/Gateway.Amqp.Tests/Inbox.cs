using System.Threading.Channels;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Gateway.Amqp.Tests;

/// <summary>A delivery as the test keeps it (RabbitMQ.Client's body memory is only valid inside the handler).</summary>
public sealed record Received(ulong DeliveryTag, bool Redelivered, string Exchange, string RoutingKey, string ConsumerTag, IReadOnlyBasicProperties Properties, byte[] Body)
{
    public string Text => System.Text.Encoding.UTF8.GetString(Body);
}

/// <summary>An AMQP consumer whose deliveries the test awaits one by one, with a deadline instead of sleeps.</summary>
public sealed class Inbox
{
    /// <summary>The longest a delivery the server owes is waited for; a safety net, never a timing assumption.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly Channel<Received> _received = Channel.CreateUnbounded<Received>();

    public string ConsumerTag { get; private set; } = "";

    /// <summary>Deliveries received and not yet taken.</summary>
    public int Count => _received.Reader.Count;

    /// <summary>Starts consuming <paramref name="queue"/> on <paramref name="channel"/>.</summary>
    public static async Task<Inbox> ConsumeAsync(IChannel channel, string queue, bool autoAck = false, bool exclusive = false, string consumerTag = "")
    {
        var inbox = new Inbox();
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, e) =>
        {
            inbox._received.Writer.TryWrite(new Received(e.DeliveryTag, e.Redelivered, e.Exchange, e.RoutingKey, e.ConsumerTag, e.BasicProperties, e.Body.ToArray()));
            return Task.CompletedTask;
        };
        inbox.ConsumerTag = await channel.BasicConsumeAsync(queue, autoAck, consumerTag, noLocal: false, exclusive, arguments: null, consumer);
        return inbox;
    }

    /// <summary>The next delivery; fails after <see cref="Deadline"/>.</summary>
    public async Task<Received> NextAsync()
    {
        using var timeout = new CancellationTokenSource(Deadline);
        try
        {
            return await _received.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"No delivery within {Deadline.TotalSeconds} s.");
            throw;
        }
    }

    /// <summary>The next <paramref name="count"/> deliveries.</summary>
    public async Task<List<Received>> NextAsync(int count)
    {
        var list = new List<Received>(count);
        for (var i = 0; i < count; i++) list.Add(await NextAsync());
        return list;
    }
}
