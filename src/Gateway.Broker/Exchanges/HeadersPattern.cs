using Gateway.Broker.Messages;

namespace Gateway.Broker.Exchanges;

/// <summary>
/// A headers-exchange binding's match rule, read from its arguments as RabbitMQ 3.10 reads them. <c>x-match</c> is
/// <c>all</c> (the default, also for unknown values), <c>any</c>, <c>all-with-x</c> or <c>any-with-x</c>. Binding
/// keys starting with <c>x-</c> are ignored by <c>all</c>/<c>any</c> and compared by the <c>-with-x</c> forms;
/// <c>x-match</c> itself is never compared. <c>all</c> with no keys matches every message; <c>any</c> with none matches
/// nothing. Values compare as <see cref="HeaderValues.MatchEquals"/>, except that a void (null) binding value matches
/// any value of a header that is present.
/// </summary>
public sealed class HeadersPattern
{
    private readonly KeyValuePair<string, object?>[] _entries;
    private readonly bool _all;

    /// <summary>Reads the rule from binding arguments.</summary>
    public HeadersPattern(IReadOnlyDictionary<string, object?>? arguments)
    {
        var mode = arguments is not null && arguments.TryGetValue("x-match", out var m) ? m as string : null;
        _all = mode is not ("any" or "any-with-x");
        var withX = mode is "all-with-x" or "any-with-x";
        _entries = (arguments ?? new Dictionary<string, object?>())
            .Where(kv => kv.Key != "x-match" && (withX || !kv.Key.StartsWith("x-", StringComparison.Ordinal)))
            .ToArray();
    }

    /// <summary>
    /// Returns null when the arguments are a valid headers binding, else why not: as RabbitMQ 3.10, <c>x-match</c>
    /// when present must be the string <c>all</c>, <c>any</c>, <c>all-with-x</c> or <c>any-with-x</c>.
    /// </summary>
    public static string? Validate(IReadOnlyDictionary<string, object?>? arguments)
    {
        if (arguments is null || !arguments.TryGetValue("x-match", out var mode)) return null;
        return mode is "all" or "any" or "all-with-x" or "any-with-x"
            ? null
            : "Invalid x-match value; expected \"all\", \"any\", \"all-with-x\" or \"any-with-x\".";
    }

    /// <summary>True when a message with <paramref name="headers"/> matches.</summary>
    public bool Matches(IReadOnlyDictionary<string, object?>? headers)
    {
        foreach (var (key, expected) in _entries)
        {
            // A void (null) binding value asks only that the header be present, whatever its value (as RabbitMQ).
            var equal = headers is not null && headers.TryGetValue(key, out var actual) &&
                        (expected is null || HeaderValues.MatchEquals(expected, actual));
            if (_all && !equal) return false;
            if (!_all && equal) return true;
        }
        return _all;
    }
}
