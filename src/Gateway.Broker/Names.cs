using System.Text;

namespace Gateway.Broker;

/// <summary>
/// The naming rule for vhosts, exchanges and queues: 1 to 255 bytes of UTF-8 (AMQP's shortstr limit), no control
/// characters (U+0000–U+001F, U+007F–U+009F) and no <c>/</c>, which cannot travel inside one URL path segment.
/// Any other Unicode character is allowed, as in RabbitMQ.
/// </summary>
public static class Names
{
    /// <summary>The longest name or routing key in UTF-8 bytes (AMQP shortstr).</summary>
    public const int MaxBytes = 255;

    /// <summary>The name the HTTP API uses for the default exchange (AMQP's empty name).</summary>
    public const string DefaultExchangeAlias = "amq.default";

    /// <summary>Returns null when <paramref name="name"/> is a valid resource name, else why it is not.</summary>
    public static string? Validate(string? name)
    {
        if (string.IsNullOrEmpty(name)) return "must not be empty";
        if (Encoding.UTF8.GetByteCount(name) > MaxBytes) return $"must be at most {MaxBytes} bytes of UTF-8";
        foreach (var c in name)
        {
            if (char.IsControl(c)) return "must not contain control characters";
            if (c == '/') return "must not contain '/'";
        }
        if (!IsWellFormedUtf16(name)) return "must be valid Unicode";
        return null;
    }

    /// <summary>Returns null when <paramref name="key"/> is a valid routing key (0 to 255 bytes of UTF-8), else why not.</summary>
    public static string? ValidateRoutingKey(string? key)
    {
        if (key is null) return null;
        if (!IsWellFormedUtf16(key)) return "must be valid Unicode";
        if (Encoding.UTF8.GetByteCount(key) > MaxBytes) return $"must be at most {MaxBytes} bytes of UTF-8";
        return null;
    }

    private static bool IsWellFormedUtf16(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1])) return false;
                i++;
            }
            else if (char.IsLowSurrogate(c)) return false;
        }
        return true;
    }
}
