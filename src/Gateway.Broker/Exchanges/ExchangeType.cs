namespace Gateway.Broker.Exchanges;

/// <summary>The AMQP exchange types.</summary>
public enum ExchangeType
{
    /// <summary>Routes to bindings whose key equals the routing key.</summary>
    Direct,
    /// <summary>Routes to every binding.</summary>
    Fanout,
    /// <summary>Routes by dot-separated word patterns (<c>*</c> one word, <c>#</c> zero or more).</summary>
    Topic,
    /// <summary>Routes by message headers against binding arguments (<c>x-match</c>).</summary>
    Headers,
}

/// <summary>Conversions between <see cref="ExchangeType"/> and its AMQP name.</summary>
public static class ExchangeTypes
{
    /// <summary>The AMQP name: direct, fanout, topic or headers.</summary>
    public static string ToName(this ExchangeType type) => type switch
    {
        ExchangeType.Direct => "direct",
        ExchangeType.Fanout => "fanout",
        ExchangeType.Topic => "topic",
        _ => "headers",
    };

    /// <summary>Parses an AMQP exchange type name (case-sensitive, as AMQP).</summary>
    public static bool TryParse(string? name, out ExchangeType type)
    {
        switch (name)
        {
            case "direct": type = ExchangeType.Direct; return true;
            case "fanout": type = ExchangeType.Fanout; return true;
            case "topic": type = ExchangeType.Topic; return true;
            case "headers": type = ExchangeType.Headers; return true;
            default: type = default; return false;
        }
    }
}
