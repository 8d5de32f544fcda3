using Gateway.Broker.Messages;

namespace Gateway.Broker.Queues;

/// <summary>
/// The dead-letter copy of a message, as RabbitMQ 3.10 writes it: an <c>x-death</c> array of tables (most recent
/// first; one table per queue and reason, whose <c>count</c> grows when the message dies there again for the same
/// reason), the <c>x-first-death-*</c> headers set once, the per-message expiration removed (kept in x-death as
/// <c>original-expiration</c>) so the copy does not expire again for the same reason.
/// </summary>
internal static class DeadLettering
{
    public const string DeathHeader = "x-death";

    /// <summary>The copy of <paramref name="message"/> that <paramref name="queue"/> publishes to its dead-letter exchange.</summary>
    public static Message Copy(Message message, MessageQueue queue, string reason, long nowTicks, IReadOnlyDictionary<string, string>? extraHeaders)
    {
        var arguments = queue.Arguments;
        var properties = message.Properties;
        var headers = properties.Headers is { } existing
            ? new Dictionary<string, object?>(existing, StringComparer.Ordinal)
            : new Dictionary<string, object?>(StringComparer.Ordinal);

        var deaths = headers.GetValueOrDefault(DeathHeader) is IReadOnlyList<object?> list ? list.ToList() : [];
        var index = deaths.FindIndex(d => d is IReadOnlyDictionary<string, object?> t
            && t.GetValueOrDefault("queue") as string == queue.Name && t.GetValueOrDefault("reason") as string == reason);
        var time = new DateTimeOffset(nowTicks, TimeSpan.Zero).ToUnixTimeSeconds();
        Dictionary<string, object?> death;
        if (index >= 0)
        {
            var previous = (IReadOnlyDictionary<string, object?>)deaths[index]!;
            death = new Dictionary<string, object?>(previous, StringComparer.Ordinal)
            {
                ["count"] = (previous.GetValueOrDefault("count") as long? ?? 0) + 1,
                ["time"] = time,
            };
            deaths.RemoveAt(index);
        }
        else
        {
            death = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["count"] = 1L,
                ["reason"] = reason,
                ["queue"] = queue.Name,
                ["time"] = time,
                ["exchange"] = message.Exchange,
                ["routing-keys"] = new List<object?> { message.RoutingKey },
            };
            if (properties.Expiration is { } expiration) death["original-expiration"] = expiration;
        }
        deaths.Insert(0, death);
        headers[DeathHeader] = deaths;
        headers.TryAdd("x-first-death-reason", reason);
        headers.TryAdd("x-first-death-queue", queue.Name);
        headers.TryAdd("x-first-death-exchange", message.Exchange);
        if (extraHeaders is not null)
            foreach (var (key, value) in extraHeaders) headers[key] = value;
        // Delivered by its dead-letter route now: a delay asked of the original publish is spent.
        headers.Remove(Message.DelayHeader);

        var routingKey = arguments.DeadLetterRoutingKey ?? message.RoutingKey;
        return new Message(arguments.DeadLetterExchange!, routingKey, properties with { Headers = headers, Expiration = null }, message.Body);
    }

    /// <summary>
    /// RabbitMQ's cycle rule: a copy routed back to a queue it already died in is dropped, unless the cycle holds a
    /// rejection (a client took part, so it is not an endless automatic loop). Rejections themselves never cycle.
    /// </summary>
    public static bool IsCycle(Message copy, string reason, string targetQueue)
    {
        if (reason == DeathReason.Rejected) return false;
        if (copy.Properties.Headers?.GetValueOrDefault(DeathHeader) is not IReadOnlyList<object?> deaths) return false;
        foreach (var d in deaths)
        {
            if (d is not IReadOnlyDictionary<string, object?> death) continue;
            if (death.GetValueOrDefault("reason") as string == DeathReason.Rejected) return false;
            if (death.GetValueOrDefault("queue") as string == targetQueue) return true;
        }
        return false;
    }
}
