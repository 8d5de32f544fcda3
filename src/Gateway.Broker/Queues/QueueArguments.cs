namespace Gateway.Broker.Queues;

/// <summary>What a queue does when it is full (<c>x-overflow</c>).</summary>
public enum OverflowBehavior
{
    /// <summary>The oldest ready message is dropped (or dead-lettered with reason <c>maxlen</c>) to make room.</summary>
    DropHead,
    /// <summary>The new message is refused: the publish is not confirmed and nothing is stored in this queue.</summary>
    RejectPublish,
    /// <summary>As <see cref="RejectPublish"/>, and the refused message is dead-lettered with reason <c>maxlen</c>.</summary>
    RejectPublishDeadLetter,
}

/// <summary>
/// The <c>x-</c> arguments of a queue declaration, validated, with RabbitMQ 3.10's names and meanings. Unknown
/// <c>x-</c> arguments are refused (RabbitMQ ignores them; here a misspelt <c>x-message-ttl</c> would otherwise go
/// unnoticed); arguments without the <c>x-</c> prefix are kept and mean nothing to the broker.
/// </summary>
public sealed record QueueArguments
{
    /// <summary>No arguments: a plain FIFO queue.</summary>
    public static readonly QueueArguments None = new();

    /// <summary>Argument names.</summary>
    public const string MessageTtlKey = "x-message-ttl", ExpiresKey = "x-expires", MaxLengthKey = "x-max-length",
        MaxLengthBytesKey = "x-max-length-bytes", OverflowKey = "x-overflow", DeadLetterExchangeKey = "x-dead-letter-exchange",
        DeadLetterRoutingKeyKey = "x-dead-letter-routing-key", MaxPriorityKey = "x-max-priority", DeliveryLimitKey = "x-delivery-limit",
        SingleActiveConsumerKey = "x-single-active-consumer", QueueTypeKey = "x-queue-type", QueueModeKey = "x-queue-mode";

    /// <summary>Per-queue message TTL (<c>x-message-ttl</c>).</summary>
    public TimeSpan? MessageTtl { get; init; }
    /// <summary>An unused queue is deleted after this long (<c>x-expires</c>).</summary>
    public TimeSpan? Expires { get; init; }
    /// <summary>Most ready messages (<c>x-max-length</c>).</summary>
    public long? MaxLength { get; init; }
    /// <summary>Most payload bytes of ready messages (<c>x-max-length-bytes</c>).</summary>
    public long? MaxLengthBytes { get; init; }
    /// <summary>What happens at a length limit (<c>x-overflow</c>).</summary>
    public OverflowBehavior Overflow { get; init; }
    /// <summary>Where dead-lettered messages are published ("" is the default exchange); null: they are dropped.</summary>
    public string? DeadLetterExchange { get; init; }
    /// <summary>The routing key of dead-lettered messages; null keeps the message's own.</summary>
    public string? DeadLetterRoutingKey { get; init; }
    /// <summary>Highest priority honoured (<c>x-max-priority</c>, 1 to 255); null: priorities are ignored.</summary>
    public byte? MaxPriority { get; init; }
    /// <summary>A message returned more often than this is dead-lettered with reason <c>delivery_limit</c>.</summary>
    public long? DeliveryLimit { get; init; }
    /// <summary>Only one consumer receives at a time (<c>x-single-active-consumer</c>).</summary>
    public bool SingleActiveConsumer { get; init; }

    /// <summary>True when x-max-length or x-max-length-bytes is set.</summary>
    internal bool HasLengthLimit => MaxLength is not null || MaxLengthBytes is not null;

    /// <summary>
    /// Validates and reads a declaration's arguments. Throws <see cref="BrokerException"/> (invalid) naming the
    /// argument at fault, as RabbitMQ answers PRECONDITION_FAILED.
    /// </summary>
    public static QueueArguments Parse(IReadOnlyDictionary<string, object?>? arguments)
    {
        if (arguments is null || arguments.Count == 0) return None;
        var result = new QueueArguments();
        foreach (var (key, value) in arguments)
        {
            if (!key.StartsWith("x-", StringComparison.Ordinal)) continue;
            result = key switch
            {
                MessageTtlKey => result with { MessageTtl = TimeSpan.FromMilliseconds(Integer(key, value, min: 0, max: uint.MaxValue)) },
                ExpiresKey => result with { Expires = TimeSpan.FromMilliseconds(Integer(key, value, min: 1, max: uint.MaxValue)) },
                MaxLengthKey => result with { MaxLength = Integer(key, value, min: 0, max: long.MaxValue) },
                MaxLengthBytesKey => result with { MaxLengthBytes = Integer(key, value, min: 0, max: long.MaxValue) },
                OverflowKey => result with { Overflow = Text(key, value) switch
                {
                    "drop-head" => OverflowBehavior.DropHead,
                    "reject-publish" => OverflowBehavior.RejectPublish,
                    "reject-publish-dlx" => OverflowBehavior.RejectPublishDeadLetter,
                    var other => throw Invalid(key, $"must be 'drop-head', 'reject-publish' or 'reject-publish-dlx', not '{other}'"),
                } },
                DeadLetterExchangeKey => result with { DeadLetterExchange = ExchangeName(key, value) },
                DeadLetterRoutingKeyKey => result with { DeadLetterRoutingKey = Text(key, value) },
                MaxPriorityKey => result with { MaxPriority = (byte)Integer(key, value, min: 1, max: byte.MaxValue) },
                DeliveryLimitKey => result with { DeliveryLimit = Integer(key, value, min: 0, max: int.MaxValue) },
                SingleActiveConsumerKey => result with { SingleActiveConsumer = value as bool? ?? throw Invalid(key, $"must be a boolean, not {TypeName(value)}") },
                QueueTypeKey => Text(key, value) == "classic" ? result
                    : throw Invalid(key, $"'{value}' is not supported; Gateway's queues behave as RabbitMQ's 'classic' queues (with x-delivery-limit as quorum queues have it)"),
                QueueModeKey => Text(key, value) is "default" or "lazy" ? result : throw Invalid(key, "must be 'default' or 'lazy'"),
                _ => throw BrokerException.Invalid($"Queue argument '{key}' is not supported. Supported: {string.Join(", ", Supported)}."),
            };
        }
        if (result.DeadLetterRoutingKey is not null && result.DeadLetterExchange is null)
            throw Invalid(DeadLetterRoutingKeyKey, $"requires '{DeadLetterExchangeKey}' to be set as well");
        return result;
    }

    /// <summary>The <c>x-</c> arguments understood.</summary>
    public static readonly IReadOnlyList<string> Supported =
    [
        MessageTtlKey, ExpiresKey, MaxLengthKey, MaxLengthBytesKey, OverflowKey, DeadLetterExchangeKey, DeadLetterRoutingKeyKey,
        MaxPriorityKey, DeliveryLimitKey, SingleActiveConsumerKey, QueueTypeKey, QueueModeKey,
    ];

    private static long Integer(string key, object? value, long min, long max) => value switch
    {
        long l when l >= min && l <= max => l,
        long l => throw Invalid(key, $"must be between {min} and {max}, not {l}"),
        double d when d == Math.Floor(d) && d >= min && d <= max => (long)d,
        _ => throw Invalid(key, $"must be an integer between {min} and {max}, not {TypeName(value)}"),
    };

    private static string Text(string key, object? value) =>
        value as string ?? throw Invalid(key, $"must be a string, not {TypeName(value)}");

    private static string ExchangeName(string key, object? value)
    {
        var name = Text(key, value);
        if (name.Length > 0 && Names.Validate(name) is { } error) throw Invalid(key, $"names an invalid exchange: the name {error}");
        return name;
    }

    private static string TypeName(object? value) => value switch
    {
        null => "null",
        string s => $"the string '{s}'",
        long or double => $"the number {value}",
        bool b => b ? "true" : "false",
        IReadOnlyDictionary<string, object?> => "an object",
        IReadOnlyList<object?> => "an array",
        _ => value.GetType().Name,
    };

    private static BrokerException Invalid(string key, string problem) => BrokerException.Invalid($"Queue argument '{key}' {problem}.");
}
