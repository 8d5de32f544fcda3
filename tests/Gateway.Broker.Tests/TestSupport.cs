using System.Text;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;

namespace Gateway.Broker.Tests;

/// <summary>A clock that moves only when told to.</summary>
internal sealed class ManualClock : TimeProvider
{
    private long _ticks = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    // The monotonic clock (rates, message ages) moves with the wall clock.
    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}

/// <summary>Shorthands shared by the engine tests.</summary>
internal static class Fx
{
    /// <summary>A safety net for awaits that should complete promptly; never a timing assumption.</summary>
    public static readonly TimeSpan Safety = TimeSpan.FromSeconds(5);

    public static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    /// <summary>A broker with its timers off (tests call ExpireLeases, RunDueTimers and SampleStatistics themselves).</summary>
    public static MessageBroker NewBroker(TimeProvider? clock = null, TimeSpan? rateWindow = null) =>
        new(new BrokerOptions
        {
            LeaseScanInterval = null, AutomaticTimers = false, StatisticsInterval = null, TimeProvider = clock ?? TimeProvider.System,
            RateWindow = rateWindow ?? TimeSpan.FromSeconds(10),
        });

    public static VirtualHost Default(this MessageBroker broker) => broker.GetVhost(MessageBroker.DefaultVhost)!;

    public static Message Msg(string routingKey, string body = "", IReadOnlyDictionary<string, object?>? headers = null, string exchange = "") =>
        new(exchange, routingKey, headers is null ? MessageProperties.Empty : new MessageProperties { Headers = headers },
            Encoding.UTF8.GetBytes(body));

    public static Dictionary<string, object?> Table(params (string Key, object? Value)[] entries)
    {
        var table = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (k, v) in entries) table[k] = v;
        return table;
    }

    public static string Text(this Delivery delivery) => Encoding.UTF8.GetString(delivery.Message.Body.Span);

    public static MessageQueue Queue(this VirtualHost vhost, string name, bool autoDelete = false) =>
        vhost.DeclareQueue(new QueueDefinition(name, AutoDelete: autoDelete)).Queue;

    public static void Exchange(this VirtualHost vhost, string name, ExchangeType type, bool autoDelete = false,
        bool @internal = false, string? alternate = null)
    {
        var args = alternate is null ? null : Table((ExchangeDefinition.AlternateExchangeArgument, alternate));
        vhost.DeclareExchange(new ExchangeDefinition(name, type, AutoDelete: autoDelete, Internal: @internal, Arguments: args));
    }

    public static Binding BindQueue(this VirtualHost vhost, string source, string queue, string key = "",
        IReadOnlyDictionary<string, object?>? arguments = null) =>
        vhost.Bind(new Binding(source, queue, BindingDestinationType.Queue, key, arguments)).Binding;

    public static Binding BindExchange(this VirtualHost vhost, string source, string destination, string key = "",
        IReadOnlyDictionary<string, object?>? arguments = null) =>
        vhost.Bind(new Binding(source, destination, BindingDestinationType.Exchange, key, arguments)).Binding;

    /// <summary>Publishes a message with a text body.</summary>
    public static PublishOutcome Send(this VirtualHost vhost, string exchange, string routingKey, string body = "",
        IReadOnlyDictionary<string, object?>? headers = null) =>
        vhost.Publish(exchange, Msg(routingKey, body, headers, exchange));

    /// <summary>The names of the queues a message would reach, ordered.</summary>
    public static string[] Routes(this VirtualHost vhost, string exchange, string routingKey,
        IReadOnlyDictionary<string, object?>? headers = null)
    {
        var queues = new List<MessageQueue>();
        Assert.True(vhost.Route(exchange, routingKey, headers, queues), $"exchange '{exchange}' should exist");
        return queues.Select(q => q.Name).Order(StringComparer.Ordinal).ToArray();
    }

    /// <summary>Takes every ready message (leased).</summary>
    public static IReadOnlyList<Delivery> TakeAll(this MessageQueue queue) => queue.Take(10_000, Lease);

    /// <summary>The bodies of every ready message, in order (they are taken and acknowledged).</summary>
    public static string[] DrainTexts(this MessageQueue queue)
    {
        var deliveries = queue.TakeAll();
        if (deliveries.Count > 0) queue.Ack(deliveries.Select(d => d.Tag).ToList());
        return deliveries.Select(d => d.Text()).ToArray();
    }

    public static async Task<Delivery> NextAsync(this QueueConsumer consumer)
    {
        using var cts = new CancellationTokenSource(Safety);
        return await consumer.Deliveries.ReadAsync(cts.Token);
    }

    /// <summary>The deliveries already in a consumer's buffer, without waiting.</summary>
    public static List<Delivery> Buffered(this QueueConsumer consumer)
    {
        var list = new List<Delivery>();
        while (consumer.Deliveries.TryRead(out var d)) list.Add(d);
        return list;
    }

    public static BrokerException Refused(BrokerError expected, Action action)
    {
        var ex = Assert.Throws<BrokerException>(action);
        Assert.Equal(expected, ex.Error);
        return ex;
    }

    public static BrokerException Refused<T>(BrokerError expected, Func<T> action) => Refused(expected, () => { action(); });
}
